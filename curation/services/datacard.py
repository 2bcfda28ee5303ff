"""A version's data card: its figures (computed once, at freeze, stored in `stats`) and the
Markdown file shipped in its Hugging Face export. The version page draws the same figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.contrib.auth import get_user_model
from django.db import connection

from curation.agreement_selectors import version_agreement
from curation.models import (
    DatasetVersion,
    Flag,
    FlagExample,
    FlagKind,
    FlagStatus,
    Review,
    ReviewDecision,
    SuggestionUse,
    TaskType,
    VersionItem,
)
from curation.services.embedding_cache import model_label, model_path

# Length histograms: bins at quantiles of the observed lengths (train and eval together), so
# each holds data whatever the range; fixed power-of-two bins left most of them empty.
LENGTH_BINS = 8
TOKEN_SAMPLE = 2000  # per split: token counts of a spread-out sample, not of every text
LABELS_SHOWN = 30


def figures(
    version: DatasetVersion,
    inputs: list[str],
    outputs: list[str],
    in_eval: npt.NDArray[np.bool_],
    excluded: dict[str, int],
    sources: Counter[str],
    authors: Counter[int | None],
    suggestion_uses: list[str],
) -> dict[str, Any]:
    """The card's figures for rows split by `in_eval` (inputs and outputs in stored form), with
    the rows' sources and authors (user ids) counted as they were read, and what annotators did
    with each row's model suggestion (Example.suggestion_use, "" without one)."""
    sides = {"train": np.flatnonzero(~in_eval), "eval": np.flatnonzero(in_eval)}
    classification = version.project.task_type == TaskType.CLASSIFICATION
    return {
        "counts": {side: len(rows) for side, rows in sides.items()},
        "labels": (
            {side: dict(Counter(outputs[row] for row in rows).most_common()) for side, rows in sides.items()}
            if classification
            else {}
        ),
        "lengths": _lengths(inputs, outputs, sides),
        "tokenizer": model_label(),
        "excluded": excluded,
        "sources": dict(sorted(sources.items(), key=lambda pair: (-pair[1], pair[0]))),
        "annotators": _usernames(authors),
        "agreement": version_agreement(version),
        "suggestions": _suggestion_uses(suggestion_uses, sides),
        **_reviews_and_flags(version),
    }


def _suggestion_uses(uses: list[str], sides: dict[str, npt.NDArray[np.int64]]) -> dict[str, Any]:
    """Per split and overall: how many outputs were a model suggestion accepted unchanged,
    edited, replaced, or answered without seeing it, and the shares accepted and suggested."""
    by_side = {side: Counter(uses[row] for row in rows.tolist()) for side, rows in sides.items()}
    by_side["all"] = by_side["train"] + by_side["eval"]
    sizes = {side: len(rows) for side, rows in sides.items()}
    sizes["all"] = len(uses)
    return {side: _use_figure(counts, sizes[side]) for side, counts in by_side.items()}


def _use_figure(counts: Counter[str], examples: int) -> dict[str, Any]:
    figure: dict[str, Any] = {"examples": examples}
    figure.update({use: counts.get(use, 0) for use in SuggestionUse.values})
    figure["with_suggestion"] = sum(figure[use] for use in SuggestionUse.values)
    figure["accepted_share"] = figure[SuggestionUse.ACCEPTED] / examples if examples else 0.0
    figure["suggested_share"] = figure["with_suggestion"] / examples if examples else 0.0
    return figure


# Above this share of outputs accepted unchanged, the card warns that a tune learns little.
MOSTLY_ACCEPTED = 0.5


def suggestions_sentence(figure: dict[str, Any] | None) -> str:
    """The data card's reading of how much of the version is the model's own outputs."""
    if figure is None:
        return "Not recorded: this version was frozen before Finch recorded the use of model suggestions."
    overall = figure["all"]
    if not overall["with_suggestion"]:
        return "No output of this version came from a model suggestion."
    sentence = (
        f"{overall['accepted_share']:.0%} of the outputs are model suggestions accepted unchanged "
        f"({overall['accepted']} of {overall['examples']}); {overall['suggested_share']:.0%} had a "
        f"suggestion ({overall['edited']} edited, {overall['replaced']} replaced, "
        f"{overall['unseen']} answered before seeing it)."
    )
    if overall["accepted_share"] > MOSTLY_ACCEPTED:
        sentence += (
            " This version is mostly the model's own outputs: a tune on them teaches it little it "
            "did not know."
        )
    return sentence


def _usernames(authors: Counter[int | None]) -> dict[str, int]:
    names = dict(
        get_user_model().objects.filter(pk__in=[pk for pk in authors if pk]).values_list("pk", "username")
    )
    counts: Counter[str] = Counter()
    for pk, count in authors.items():
        counts[names.get(pk, "(deleted user)") if pk else "(deleted user)"] += count
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def _lengths(
    inputs: list[str], outputs: list[str], sides: dict[str, npt.NDArray[np.int64]]
) -> dict[str, Any]:
    tokenizer = _tokenizer()
    measured: dict[str, dict[str, list[int]]] = {
        "input_chars": {},
        "output_chars": {},
        "input_tokens": {},
        "output_tokens": {},
    }
    sampled: dict[str, dict[str, int]] = {"input": {}, "output": {}}
    for side, rows in sides.items():
        for field, texts in (("input", inputs), ("output", outputs)):
            measured[f"{field}_chars"][side] = [len(texts[row]) for row in rows.tolist()]
            step = max(1, len(rows) // TOKEN_SAMPLE)
            sample = [texts[row] for row in rows[::step].tolist()]
            measured[f"{field}_tokens"][side] = [
                len(encoding.ids) for encoding in tokenizer.encode_batch(sample, add_special_tokens=False)
            ]
            sampled[field][side] = len(sample)
    lengths: dict[str, Any] = {}
    for measure, by_side in measured.items():
        edges = length_edges([value for values in by_side.values() for value in values])
        lengths[measure] = {side: _histogram(values, edges) for side, values in by_side.items()}
        if measure.endswith("_tokens"):
            for side, figure in lengths[measure].items():
                figure["sampled"] = sampled[measure.split("_")[0]][side]
    return lengths


def length_edges(values: list[int], bins: int = LENGTH_BINS) -> list[int]:
    """Lower edges of up to `bins` bins at the quantiles of `values` (the last bin runs to the
    maximum), so every bin covers observed lengths."""
    if not values:
        return [0]
    quantiles = np.quantile(np.asarray(values), np.linspace(0, 1, bins + 1))[:-1]
    return sorted({int(value) for value in np.floor(quantiles)})


def _tokenizer() -> Any:
    """The embedding model's fast tokenizer, read directly (importing transformers costs seconds)."""
    from tokenizers import Tokenizer

    path = Path(model_path()) / "tokenizer.json"
    if path.exists():
        tokenizer = Tokenizer.from_file(str(path))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path()).backend_tokenizer
    tokenizer.no_padding()  # lengths as they are, not padded or cut to the model's window
    tokenizer.no_truncation()
    return tokenizer


def _histogram(values: list[int], edges: list[int]) -> dict[str, Any]:
    if not values:
        return {"edges": edges, "counts": [0] * len(edges), "p50": 0, "p90": 0, "max": 0}
    array = np.asarray(values)
    counts = np.bincount(np.searchsorted(edges, array, side="right") - 1, minlength=len(edges))
    return {
        "edges": edges,  # counts[i]: values from edges[i] up to the next edge (the last: and above)
        "counts": counts.tolist(),
        "p50": int(np.percentile(array, 50)),
        "p90": int(np.percentile(array, 90)),
        "max": int(array.max()),
    }


def _reviews_and_flags(version: DatasetVersion) -> dict[str, Any]:
    """Reviews of the frozen examples, and contradiction flags about them that were resolved:
    joined from the (smaller) review and flag tables to the version's items."""
    item, review = VersionItem._meta.db_table, Review._meta.db_table
    flag, flag_example = Flag._meta.db_table, FlagExample._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(sum(CASE WHEN r.decision = %s THEN 1 ELSE 0 END), 0),"
            f" count(DISTINCT r.reviewer_id) FROM {review} r"
            f" JOIN {item} i ON i.example_id = r.example_id AND i.version_id = %s",
            [ReviewDecision.APPROVE.value, version.pk],
        )
        total, approvals, reviewers = cursor.fetchone()
        cursor.execute(
            f"SELECT f.kind, count(DISTINCT f.id) FROM {flag} f JOIN {flag_example} fe ON fe.flag_id = f.id"
            f" JOIN {item} i ON i.example_id = fe.example_id AND i.version_id = %s"
            " WHERE f.project_id = %s AND f.kind IN (%s, %s) AND f.status IN (%s, %s) GROUP BY f.kind",
            [
                version.pk,
                version.project_id,
                FlagKind.CONTRADICTION.value,
                FlagKind.DISAGREEMENT.value,
                FlagStatus.RESOLVED.value,
                FlagStatus.DISMISSED.value,
            ],
        )
        resolved = dict(cursor.fetchall())
    return {
        "reviews": {"total": total, "approvals": int(approvals), "reviewers": reviewers},
        "contradictions_resolved": resolved.get(FlagKind.CONTRADICTION.value, 0),
        # annotators' disagreements a reviewer settled (since 2026-12; older cards lack it)
        "disagreements_resolved": resolved.get(FlagKind.DISAGREEMENT.value, 0),
    }


def card_markdown(version: DatasetVersion) -> str:
    """The data card as Markdown (for the export; the version page renders the same figures).
    What it says of the project and of who froze the version is what the version recorded at
    freeze (version_exports.recorded), not the live project."""
    from curation.services.version_exports import frozen_by, recorded

    stats, project = version.stats, recorded(version)
    by = frozen_by(version)
    lines = [
        f"# {project.name}: version {version.number} ({version.name})",
        "",
        f"Target behavior: {project.target_behavior}",
        "",
        f"- Task type: {project.task_type}",
        f"- Frozen: {version.frozen_at.isoformat() if version.frozen_at else 'not yet'}"
        f" by {by if by is not None else 'unknown'}",
        f"- sha256 of the canonical export: `{version.sha256}`",
        f"- Split: eval fraction {version.eval_fraction}, seed {version.seed}",
    ]
    if version.note:
        lines += [f"- Note: {version.note}"]
    counts = stats.get("counts", {})
    lines += ["", "## Counts", "", "| split | examples |", "| --- | ---: |"]
    lines += [f"| {side} | {counts.get(side, 0)} |" for side in ("train", "eval")]
    lines += _label_table(stats.get("labels") or {})
    lines += _length_table(stats.get("lengths") or {}, stats.get("tokenizer", ""))
    lines += _provenance_lines(stats)
    lines += _agreement_lines(stats.get("agreement"))
    lines += _suggestion_lines(stats.get("suggestions"))
    lines += _leakage_lines(version.leakage)
    lines += _guidelines_lines(version)
    return "\n".join(lines) + "\n"


def _guidelines_lines(version: DatasetVersion) -> list[str]:
    if not version.guidelines.strip():
        return ["", "## Guidelines", "", "The project had no guidelines when this version was frozen."]
    # Headings inside the guidelines move two levels down, under this section's heading.
    text = "\n".join(
        f"##{line}" if line.startswith("#") else line for line in version.guidelines.splitlines()
    )
    return [
        "",
        "## Guidelines",
        "",
        f"Labeled under guidelines revision {version.guidelines_revision}:",
        "",
        text,
    ]


def _label_table(labels: dict[str, dict[str, int]]) -> list[str]:
    if not labels:
        return []
    totals = Counter(labels.get("train", {})) + Counter(labels.get("eval", {}))
    lines = ["", "## Labels", "", "| label | train | eval |", "| --- | ---: | ---: |"]
    for label, _ in totals.most_common(LABELS_SHOWN):
        lines.append(
            f"| {_cell(label)} | {labels.get('train', {}).get(label, 0)} | {labels.get('eval', {}).get(label, 0)} |"
        )
    if len(totals) > LABELS_SHOWN:
        lines.append(f"| ({len(totals) - LABELS_SHOWN} more labels) | | |")
    return lines


def _length_table(lengths: dict[str, Any], tokenizer: str) -> list[str]:
    lines = [
        "",
        "## Lengths",
        "",
        f"Tokens by the {tokenizer} tokenizer, on a sample of up to {TOKEN_SAMPLE} texts per split.",
        "",
        "| measure | split | median | 90th percentile | max |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for measure, sides in lengths.items():
        for side, figure in sides.items():
            label = measure.replace("_", " ")
            lines.append(f"| {label} | {side} | {figure['p50']} | {figure['p90']} | {figure['max']} |")
    return lines


def _provenance_lines(stats: dict[str, Any]) -> list[str]:
    reviews = stats.get("reviews") or {}
    excluded = stats.get("excluded") or {}
    lines = ["", "## Provenance", ""]
    lines += [f"- Source {_cell(name)}: {count}" for name, count in (stats.get("sources") or {}).items()]
    lines += [
        f"- Written by {_cell(name)}: {count}" for name, count in (stats.get("annotators") or {}).items()
    ]
    lines += [
        f"- Reviews: {reviews.get('total', 0)} ({_counted(reviews.get('approvals', 0), 'approval')},"
        f" {_counted(reviews.get('reviewers', 0), 'reviewer')})",
        f"- Left out: {_counted(excluded.get('duplicate', 0), 'duplicate')},"
        f" {excluded.get('open_contradiction', 0)} in open contradiction or disagreement flags,"
        f" {excluded.get('invalid', 0)} not fitting the labels or schema,"
        f" {excluded.get('not_approved', 0)} not approved, {excluded.get('empty_output', 0)} without output",
        f"- Contradictions resolved among these examples: {stats.get('contradictions_resolved', 0)}",
    ]
    if "disagreements_resolved" in stats:  # a card frozen before it was counted keeps its bytes
        lines.append(
            f"- Annotators' disagreements resolved among these examples: {stats['disagreements_resolved']}"
        )
    if "conflicting_inputs" in stats:  # likewise
        conflicts = stats["conflicting_inputs"]
        lines.append(
            f"- Inputs under two answers or more (equal once normalized): {conflicts['inputs']}"
            f" ({_counted(conflicts['examples'], 'example')})"
        )
    return lines


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def agreement_sentence(figure: dict[str, Any] | None) -> str:
    """The data card's reading of annotator agreement on the version's examples."""
    if figure is None:
        return "Not recorded: this version was frozen before Finch measured annotator agreement."
    if not figure.get("with_overlap"):
        return "None of these examples was labeled by two or more annotators, so agreement was not measured."
    on = f"{figure['items']} labeling-queue items with two or more annotations"
    if figure["items"] < figure["with_overlap"]:
        on += f" (the most recent of {figure['with_overlap']})"
    if figure.get("value") is None:
        return f"Krippendorff's alpha (nominal) on {on}: not defined. {figure.get('reason', '')}".strip()
    interval = figure.get("interval")
    spread = f", 95% bootstrap interval {interval[0]:.3f} to {interval[1]:.3f}" if interval else ""
    return f"Krippendorff's alpha (nominal) {figure['value']:.3f}{spread}, on {on}."


def _agreement_lines(figure: dict[str, Any] | None) -> list[str]:
    return ["", "## Annotator agreement", "", agreement_sentence(figure)]


def _suggestion_lines(figure: dict[str, Any] | None) -> list[str]:
    lines = ["", "## Model suggestions", "", suggestions_sentence(figure)]
    if figure is None or not figure["all"]["with_suggestion"]:
        return lines
    lines += [
        "",
        "| split | examples | accepted unchanged | edited | replaced | answered before seeing it | accepted share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side in ("train", "eval", "all"):
        row = figure[side]
        lines.append(
            f"| {side} | {row['examples']} | {row['accepted']} | {row['edited']} | {row['replaced']} |"
            f" {row['unseen']} | {row['accepted_share']:.1%} |"
        )
    return lines


def _leakage_lines(leakage: dict[str, Any]) -> list[str]:
    if not leakage.get("checked"):
        return ["", "## Leakage", "", "Not checked."]
    lines = [
        "",
        "## Leakage",
        "",
        f"{leakage.get('near_duplicate_pairs', 0)} train/eval near-duplicate pairs"
        f" ({leakage.get('eval_items_leaked', 0)} eval items).",
        "",
    ]
    for method, result in (leakage.get("methods") or {}).items():
        lines.append(
            f"- {method}: " + (result["skipped"] if "skipped" in result else f"{result['pairs']} pairs")
        )
    return lines


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item."""
    return " ".join(str(text).split()).replace("|", "\\|")
