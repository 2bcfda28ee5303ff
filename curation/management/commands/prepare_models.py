import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.observability import logs_to_file
from curation.dedup import int8
from curation.services.embedding_cache import fast_available, model_path


class Command(BaseCommand):
    help = (
        "Make the int8 ONNX copy of the embedding model under FINCH_MODELS_DIR (once; a worker "
        "would otherwise make it on its first embedding job)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not fast_available():
            self.stdout.write(
                "No int8 copy needed (FINCH_EMBEDDING_INT8 is off, or the model does not mean-pool)."
            )
            return
        started = time.perf_counter()
        with logs_to_file(Path(settings.FINCH_HOME) / "log" / "prepare_models.log"):  # no weight-loading bars
            path = int8.quantized_path(model_path(), settings.FINCH_MODELS_DIR)
        self.stdout.write(f"int8 embedding model: {path} ({time.perf_counter() - started:.1f} s)")
