"""Suggestions for tests, made fast: a succeeded suggestion run row and its Suggestion rows, as a
real run (tests/evaluation/test_suggestions.py) leaves them."""

from __future__ import annotations

from curation.models import Example, JobStatus, LabelingItem, Project, Suggestion
from evaluation.models import SuggestionRun, SuggestionTarget

MODEL = "/models/tiny-suggester"


def suggestion_run(project: Project, status: str = JobStatus.SUCCEEDED, **fields: object) -> SuggestionRun:
    return SuggestionRun.objects.create(
        project=project,
        base_model=MODEL,
        status=status,
        progress=1.0,
        **fields,
    )


def suggest(
    target: LabelingItem | Example,
    output: str,
    confidence: float = 0.8,
    *,
    run: SuggestionRun | None = None,
    valid: bool = True,
) -> Suggestion:
    """A suggestion for a queued item or a draft, from `run` (default: a new succeeded run)."""
    project = target.project
    item = target if isinstance(target, LabelingItem) else None
    example = target if isinstance(target, Example) else None
    if run is None:
        run = suggestion_run(project, target=SuggestionTarget.QUEUE if item else SuggestionTarget.DRAFTS)
    alternatives = (
        [{"label": output, "probability": confidence}] if project.task_type == "classification" else []
    )
    return Suggestion.objects.create(
        run=run,
        project=project,
        item=item,
        example=example,
        output=output,
        valid=valid,
        confidence=confidence,
        alternatives=alternatives,
    )
