import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.observability import logs_to_file
from curation.dedup import int8, static
from curation.services.embedding_cache import fast_available, model_path
from curation.services.embedding_candidates import in_use as static_in_use


class Command(BaseCommand):
    help = (
        "Make the int8 ONNX copy of the embedding model, and unless FINCH_EMBEDDING_STATIC is off its "
        "distilled static copy, under FINCH_MODELS_DIR (once; a worker would otherwise make them "
        "on its first embedding job)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        log = Path(settings.FINCH_HOME) / "log" / "prepare_models.log"
        if fast_available():
            started = time.perf_counter()
            with logs_to_file(log):  # no weight-loading bars
                path = int8.quantized_path(model_path(), settings.FINCH_MODELS_DIR)
            self.stdout.write(f"int8 embedding model: {path} ({time.perf_counter() - started:.1f} s)")
        else:
            self.stdout.write(
                "No int8 copy needed (FINCH_EMBEDDING_INT8 is off, or the model does not mean-pool)."
            )
        if static_in_use():
            started = time.perf_counter()
            with logs_to_file(log):
                folder = static.distilled_path(model_path(), settings.FINCH_MODELS_DIR)
            self.stdout.write(f"static embedding model: {folder} ({time.perf_counter() - started:.1f} s)")
