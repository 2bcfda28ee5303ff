"""MinHash jobs with their LSH index in Redis (datasketch's Redis storage), shared by chunks."""

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from pytest_django import Settings

from curation.dedup.minhash import bucket_pairs, candidate_pairs
from tests.conftest import Team
from tests.curation.test_dedup_chunks import (
    CHECKED,
    MINHASH_CLUSTERS,
    MINHASH_MARKS,
    MINHASH_ROWS,
    add_rows,
    outcome,
    run,
    sketch_files,
)
from tests.curation.test_dedup_chunks import media as media  # the autouse fixture: sketches in tmp
from tests.integration.test_worker import REDIS_URL  # this run's own database (FINCH_TEST_REDIS_URL)


@pytest.fixture
def lsh_redis(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    client.flushdb()
    settings.FINCH_LSH_REDIS_URL = REDIS_URL
    yield client
    client.flushdb()
    client.close()


@pytest.mark.django_db
def test_chunks_share_one_redis_index_and_the_merge_drops_it(
    team: Team, settings: Settings, lsh_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given near-duplicates spread over chunks of 2, and the LSH index in Redis
    rows = add_rows(team.project, MINHASH_ROWS)
    settings.FINCH_DEDUP_CHUNK_ROWS = 2
    seen_keys: list[int] = []
    real_execute = redis.client.Pipeline.execute

    def counting_execute(self: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        seen_keys.append(len(lsh_redis.keys("finch:lsh:*")))
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting_execute)

    # When the job runs
    job = run(team.project, team.lead, "minhash", threshold=0.7)
    monkeypatch.undo()

    # Then it found the same clusters as the in-memory index, through Redis, and left nothing there
    result = outcome(team.project, rows)
    assert result.member_sets() == MINHASH_CLUSTERS
    assert result.marks == MINHASH_MARKS
    assert job.examples_checked == CHECKED
    assert max(seen_keys) > 0  # the index lived in Redis while the job ran
    assert lsh_redis.keys("finch:lsh:*") == []
    assert sketch_files(job) == []


def test_bucket_pairs_match_candidate_pairs() -> None:
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 6, size=(60, 3)).astype(np.uint32)
    buckets = [
        sorted(np.nonzero(keys[:, band] == value)[0].tolist()) for band in range(3) for value in range(6)
    ]
    for window in (1, 4, 100):
        from_index = {tuple(pair) for pair in bucket_pairs(buckets, window).tolist()}
        in_memory = {tuple(pair) for pair in candidate_pairs(keys, window).tolist()}
        assert from_index == in_memory
