"""What a worker can run: QLoRA only on a CUDA GPU with bitsandbytes, as many data-parallel
processes as its GPUs (FINCH_GPU_COUNT), each refusal naming what to change."""

from __future__ import annotations

from typing import Any

import pytest

from curation.models import JobStatus
from tests.conftest import Team
from tests.training.support import FAST, FreezeFn
from training import modeling
from training.capacity import Scale, scale_for
from training.preflight import PreflightError
from training.services import run_create, run_execute


def _scale(settings: dict[str, Any], **host: Any) -> Scale:
    given = {"gpu_count": 1, "cuda_devices": 1, "cpu_data_parallel": False, "bitsandbytes": True, **host}
    return scale_for(settings, **given)


def test_one_process_by_default() -> None:
    assert _scale({}) == Scale(processes=1, device="cuda", backend=None)
    assert _scale({}, cuda_devices=0) == Scale(processes=1, device="cpu", backend=None)
    assert _scale({}).as_dict()["launcher"] is None


def test_every_gpu_of_the_worker_or_those_the_run_asks_for() -> None:
    assert _scale({"gpus": "all"}, gpu_count=4, cuda_devices=8) == Scale(4, "cuda", "nccl")
    assert _scale({"gpus": 2}, gpu_count=4, cuda_devices=8).processes == 2
    assert _scale({"gpus": 2}, gpu_count=4, cuda_devices=8).as_dict()["launcher"] == "torchrun"


def test_more_gpus_than_the_worker_may_use_is_refused() -> None:
    with pytest.raises(
        PreflightError, match=r"asks for 3 GPUs but this worker may use 2 \(FINCH_GPU_COUNT\)"
    ):
        _scale({"gpus": 3}, gpu_count=2, cuda_devices=8)
    with pytest.raises(PreflightError, match="FINCH_GPU_COUNT=4\\) but this host has 2"):
        _scale({}, gpu_count=4, cuda_devices=2)


def test_data_parallel_on_the_cpu_only_where_the_worker_allows_it() -> None:
    with pytest.raises(PreflightError, match=r'no CUDA GPU\. Run it on a GPU worker, or give it "gpus": 1'):
        _scale({}, gpu_count=2, cuda_devices=0)
    assert _scale({}, gpu_count=2, cuda_devices=0, cpu_data_parallel=True) == Scale(2, "cpu", "gloo")


def test_qlora_needs_a_cuda_gpu_and_bitsandbytes() -> None:
    with pytest.raises(PreflightError, match=r'QLoRA \(quantization "nf4"\) needs a CUDA GPU'):
        _scale({"quantization": "nf4"}, cuda_devices=0)
    with pytest.raises(PreflightError, match=r"needs bitsandbytes, .* pip install 'finch\[gpu\]'"):
        _scale({"quantization": "nf4"}, bitsandbytes=False)
    with pytest.raises(PreflightError, match="bfloat16, which this GPU lacks"):
        _scale({"quantization": "nf4"}, bf16=False)
    assert _scale({"quantization": "nf4"}).device == "cuda"


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_a_qlora_run_on_this_cpu_host_fails_at_preflight_before_loading(
    team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_loading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(modeling, "base_load", no_loading)
    monkeypatch.setattr(modeling, "cuda_devices", lambda: 0)  # whatever this host has
    run = run_create(
        version=frozen(team.project, team.lead),
        user=None,
        base_model=tiny_model,
        hyperparameters={**FAST, "quantization": "nf4"},
    )
    assert run.hyperparameters["quantization"] == "nf4"  # the web tier cannot know the GPU host
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.step == 0
    assert 'QLoRA (quantization "nf4") needs a CUDA GPU' in run.error
    assert run.preflight == {}  # refused before the data was even tokenized
