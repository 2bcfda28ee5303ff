"""Did a run's adapter learn? One verdict from the run's eval loss before training and its best one,
shown on the run's page, in its list and in the API (thresholds documented in docs/training.md).

A run can succeed (its best adapter beat the untrained one) and still have learned next to
nothing: with LoRA's usual learning rate a small random model's eval loss falls a few percent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Below this fall of the eval loss (relative to its value before training) an adapter barely
# learned; from LEARNED_FROM on it learned; between, it learned some.
BARELY_BELOW = 0.10
LEARNED_FROM = 0.30
ADVICE = "try a higher learning rate, a larger LoRA r, or more epochs"


@dataclass(frozen=True)
class Learning:
    verdict: str  # "barely", "some", "learned"
    eval_loss_fell: float  # the fraction of the eval loss before training that the best adapter removed
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def learning_verdict(*, initial_eval_loss: float | None, best_eval_loss: float | None) -> Learning | None:
    """How much the best adapter lowered the eval loss, in words; None without both losses (no eval
    split, or the run has not finished)."""
    if initial_eval_loss is None or best_eval_loss is None or initial_eval_loss <= 0:
        return None
    fell = (initial_eval_loss - best_eval_loss) / initial_eval_loss
    losses = f"eval loss fell {fell:.0%} ({initial_eval_loss:.2f} → {best_eval_loss:.2f})"
    if fell < BARELY_BELOW:
        return Learning("barely", fell, f"{losses}: the adapter barely learned; {ADVICE}.")
    if fell < LEARNED_FROM:
        return Learning("some", fell, f"{losses}: the adapter learned a little; {ADVICE} may help.")
    return Learning("learned", fell, f"{losses}: the adapter learned.")
