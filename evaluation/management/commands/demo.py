import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.observability import logs_to_file
from curation.services.demo import (
    DemoLogin,
    demo_admin_ensure,
    run_jobs_here,
    run_jobs_on_workers,
    token_command,
)
from evaluation.demo import DemoResult, default_base_model, demo_loop, real_model_demo_loop, real_model_ensure


class Command(BaseCommand):
    help = (
        "Build the demo (once; a second run reuses it): the banking77 sample imported and reviewed, "
        "dedup and contradiction jobs, a frozen version, a tiny-model LoRA run on the CPU, baseline and "
        "tuned evaluations and their comparison; then print how to log in. With --real-model, a second "
        "demo on that version with a real instruct model (SmolLM2-135M-Instruct), queued for the worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default=None, help="Default: a random one, kept in FINCH_HOME.")
        parser.add_argument(
            "--base-model", default=None, help="Default: FINCH_BASE_MODELS_DIR/tiny-banking77."
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument(
            "--epochs", type=int, default=None, help="Of the demo's training run (default: its own)."
        )
        parser.add_argument(
            "--real-model",
            action="store_true",
            help="Then the real-model demo: SmolLM2-135M-Instruct 8-shot vs its LoRA on the same version, "
            "queued for the worker (minutes on a CPU; its run page draws the loss as it trains).",
        )
        parser.add_argument(
            "--wait", action="store_true", help="With --real-model: run it here and wait, not on the worker."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._started = time.monotonic()
        base_model = options["base_model"] or str(default_base_model())
        if not options["base_model"] and not default_base_model().joinpath("config.json").exists():
            raise CommandError(f"No model at {base_model}: run `manage.py make_tiny_model` first.")
        log_file = Path(settings.FINCH_HOME) / "log" / "demo.log"
        self.stdout.write(f"demo: building the demo; its logs go to {log_file}")
        with logs_to_file(log_file):
            result, login = self._build(base_model, options)
            real = self._real_model(login.username, options) if options["real_model"] else None
        url = options["url"].rstrip("/")
        self.stdout.write(f"demo: done in {self._elapsed()}")
        if real is not None:
            self.stdout.write(f"  the real-model comparison: {url}/comparisons/{real.comparison.pk}/")
        elif options["real_model"]:
            self.stdout.write(
                "  the real-model demo is queued for the worker (`make run`'s worker picks it up): "
                f"its training run appears at {url}/projects/{result.project.pk}/training/ with its loss "
                "curve, then its evaluations and comparison; the worker's log says each step."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nFinch is starting at {url}/\n"
                f"  log in as: {login.username}\n"
                f"  password:  {login.password}\n"
                f"  the demo:  {url}/projects/{result.project.pk}/ (its comparison: "
                f"{url}/comparisons/{result.comparison.pk}/)\n"
                f"  API docs:  {url}/api/docs/\n"
                f"  API token: {token_command(login.username)}\n"
            )
        )
        if not options["real_model"]:
            self.stdout.write(
                "A second demo on a real instruct model (SmolLM2-135M-Instruct, 8-shot against its LoRA; "
                "minutes on a CPU, on the worker in the background):\n"
                "  .venv/bin/python manage.py demo --real-model\n"
            )

    def _build(self, base_model: str, options: dict[str, Any]) -> tuple[DemoResult, DemoLogin]:
        login = demo_admin_ensure(username=options["username"], password=options["password"])
        user = get_user_model().objects.get(username=login.username)
        run_jobs_here()
        try:
            result = demo_loop(user=user, base_model=base_model, epochs=options["epochs"], say=self._say)
        except RuntimeError as exc:  # a step failed; running the command again retries it
            raise CommandError(str(exc)) from exc
        return result, login

    def _real_model(self, username: str, options: dict[str, Any]) -> DemoResult | None:
        """Register the real model here (so that the worker starts training at once), then run
        its demo here (--wait) or queue it for the worker."""
        from evaluation.tasks import real_model_demo

        user = get_user_model().objects.get(username=username)
        real_model_ensure(self._say)
        if options["wait"]:
            try:
                return real_model_demo_loop(user=user, epochs=options["epochs"], say=self._say)
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
        run_jobs_on_workers()
        real_model_demo.delay(user.pk)
        self._say("real-model demo: queued for the worker")
        return None

    def _say(self, line: str) -> None:
        """One line a step, with the time since the command started, shown at once (even in a pipe)."""
        self.stdout.write(f"demo [{self._elapsed()}] {line}")
        self.stdout.flush()

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self._started)
        return f"{seconds // 60}:{seconds % 60:02d}"
