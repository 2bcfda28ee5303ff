import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.observability import logs_to_file
from curation.dedup import int8, sketch, static
from curation.services.embedding_cache import fast_available, model_by_export, model_path
from curation.services.embedding_candidates import in_use as static_in_use


class Command(BaseCommand):
    help = (
        "Make the int8 ONNX copy of the embedding model, its fp32 ONNX export where it embeds "
        "faster than torch, and unless FINCH_EMBEDDING_STATIC is off its distilled static copy, "
        "under FINCH_MODELS_DIR (once; a worker would otherwise make them on its first "
        "embedding job); and compile the dedup kernels for this CPU (numba's cache)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        path, folder = model_path(), settings.FINCH_MODELS_DIR
        if fast_available():
            self._made("int8 embedding model", lambda: int8.quantized_path(path, folder))
        else:
            self.stdout.write(
                "No int8 copy needed (FINCH_EMBEDDING_INT8 is off, or the model does not mean-pool)."
            )
        if model_by_export(path):
            self._made("fp32 ONNX export of the embedding model", lambda: int8.exported_path(path, folder))
        if static_in_use():
            self._made("static embedding model", lambda: static.distilled_path(path, folder))
        self._made("dedup kernels compiled for this CPU", sketch.compile_kernels)

    def _made(self, label: str, make: Callable[[], Path]) -> None:
        """Make (or find) a copy of the model, or the compiled kernels, and say where it is and
        how long that took."""
        started = time.perf_counter()
        with logs_to_file(Path(settings.FINCH_HOME) / "log" / "prepare_models.log"):  # no loading bars
            made = make()
        self.stdout.write(f"{label}: {made} ({time.perf_counter() - started:.1f} s)")
