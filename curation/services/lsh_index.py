"""A MinHash job's LSH index in Redis, through datasketch's Redis storage (FINCH_LSH_REDIS_URL).

Chunks on any number of hosts add their examples' band keys to one shared index (one datasketch
set storage per band: band key -> example ids); the merge reads back only the buckets holding
more than one example, and drops the index when done. Without the setting, the merge builds the
same buckets in memory from the chunks' sketch files, which is faster on one machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt
from datasketch.storage import UnorderedStorage, unordered_storage
from django.conf import settings

from curation.models import DedupJob


def enabled() -> bool:
    return bool(settings.FINCH_LSH_REDIS_URL)


def _tables(job: DedupJob, bands: int) -> list[UnorderedStorage]:
    url = urlparse(settings.FINCH_LSH_REDIS_URL)
    redis = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 6379,
        "db": int(url.path.strip("/") or 0),
    }
    if url.password:
        redis["password"] = url.password
    config = {"type": "redis", "redis": redis}
    return [
        unordered_storage(config, name=f"finch:lsh:job-{job.pk}:band-{band}".encode())
        for band in range(bands)
    ]


def index_add(job: DedupJob, ids: npt.NDArray[np.int64], keys: npt.NDArray[np.uint32]) -> None:
    """Add a chunk's examples (sets: a redelivered chunk adds nothing twice)."""
    for band, table in enumerate(_tables(job, keys.shape[1])):
        for pk, key in zip(ids.tolist(), keys[:, band].tolist(), strict=True):
            table.insert(key.to_bytes(4, "little"), pk, buffer=True)
        table.empty_buffer()


def shared_buckets(job: DedupJob, bands: int) -> Iterator[list[int]]:
    """The example ids of every bucket (one band, one key) that holds more than one."""
    for table in _tables(job, bands):
        shared = [key for key, count in table.itemcounts().items() if count > 1]
        for members in table.getmany(*shared) if shared else []:
            yield sorted(int(member) for member in members)


def index_drop(job: DedupJob, bands: int) -> None:
    for table in _tables(job, bands):
        keys = table.keys()
        if keys:
            table.remove(*keys)
