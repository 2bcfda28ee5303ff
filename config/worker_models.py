"""Workers can load the embedding models as they start (FINCH_PRELOAD_EMBEDDING_MODELS), so the
first embedding job after a restart does not wait for them: about 4 s on two cores (the int8
copy's sessions 1.7 s, the model 2.6 s, the static copy 0.1 s), and a few hundred MB held by
each worker process from then on. For prefork workers (each child loads its own after it
forks); off by default, for workers that never run a dedup job.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def connect_worker_models() -> None:
    """Load the models in each worker process as it starts (called once by the Celery app)."""
    from celery.signals import worker_process_init

    worker_process_init.connect(load_embedding_models, weak=False)


def load_embedding_models(**_: Any) -> None:
    """worker_process_init: load what an embedding job uses, where the setting asks."""
    if settings.FINCH_PRELOAD_EMBEDDING_MODELS:
        from curation.services.embedding_cache import preload_models

        preload_models()
