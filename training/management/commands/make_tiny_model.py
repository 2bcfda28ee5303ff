from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.observability import logs_to_file
from curation.errors import ApplicationError
from curation.models import Project
from training.base_models import SETTINGS_FILE
from training.registry import lookup, register_folder
from training.tiny import TinyShape, chat_template_add, make_tiny_model, recommend, sample_texts

# Made here from random weights and a tokenizer trained on the bundled banking77 sample (CC BY 4.0).
TINY_LICENSE = "random weights; tokenizer from banking77 (CC BY 4.0)"


class Command(BaseCommand):
    help = (
        "Write a tiny causal LM and a tokenizer trained here on a project's texts (or the bundled "
        "banking77 sample) to PATH (default: FINCH_BASE_MODELS_DIR/tiny-banking77, which the launch "
        "form offers) and register it (as NAME, default: the folder's name): a base model for tests, the "
        "demo and CPU-only hosts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, nargs="?")
        parser.add_argument("--if-missing", action="store_true", help="keep a model already at PATH")
        parser.add_argument("--name", default="", help="its registered name; default: the folder's name")
        parser.add_argument("--from-project", type=int, help="train the tokenizer on this project's examples")
        parser.add_argument("--layers", type=int, default=TinyShape.layers)
        parser.add_argument("--hidden-size", type=int, default=TinyShape.hidden_size)
        parser.add_argument("--vocab-size", type=int, default=TinyShape.vocab_size)

    def handle(self, *args: Any, **options: Any) -> None:
        # The libraries' INFO lines and loading bars go to a file; the console keeps this command's lines.
        with logs_to_file(Path(settings.FINCH_HOME) / "log" / "base_models.log"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        folder = options["path"] or Path(settings.FINCH_BASE_MODELS_DIR) / "tiny-banking77"
        if options["if_missing"] and (folder / "config.json").exists():
            if not (folder / SETTINGS_FILE).exists():  # made before models carried their settings
                recommend(folder)
            if lookup(str(folder)) is None:  # a registered model is never rewritten: runs check its files
                chat_template_add(folder)  # made before the tiny model had a chat template
            self.stdout.write(f"tiny model: {folder.resolve()} (already there)")
            self._register(folder, options["name"])
            return
        if registered := lookup(str(folder)):
            raise CommandError(
                f"{folder.resolve()} is registered as {registered.name}: a registered model is never "
                "rewritten (runs check its files). Give another PATH, or --if-missing to keep it."
            )
        texts = sample_texts() if options["from_project"] is None else _project_texts(options["from_project"])
        shape = TinyShape(
            vocab_size=options["vocab_size"],
            hidden_size=options["hidden_size"],
            intermediate_size=2 * options["hidden_size"],
            layers=options["layers"],
        )
        make_tiny_model(folder, texts, shape)
        self.stdout.write(f"tiny model: {folder.resolve()}")
        self._register(folder, options["name"])

    def _register(self, folder: Path, name: str) -> None:
        """Register the folder unless it is registered already (a model made before the registry
        is registered by --if-missing)."""
        model = lookup(str(folder))
        if model is None:
            try:
                model = register_folder(folder=folder, name=name, license=TINY_LICENSE)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(f"registered as {model.name} (weights sha256 {model.weights_sha256[:16]}...)")


def _project_texts(project_id: int) -> list[str]:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise CommandError(f"No project {project_id}.")
    rows = project.examples.values_list("input", "output")
    texts = [text for pair in rows.iterator() for text in pair if text]
    if not texts:
        raise CommandError(f"Project {project_id} has no examples to train a tokenizer on.")
    return [*texts, project.system_prompt, *map(str, project.labels)]
