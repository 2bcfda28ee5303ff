"""The agreement endpoint's output (curation.agreement_selectors.project_agreement, as is)."""

from __future__ import annotations

from rest_framework import serializers


class AlphaOutput(serializers.Serializer):
    value = serializers.FloatField(
        allow_null=True, help_text="Krippendorff's alpha (nominal); null: see reason."
    )
    interval = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="95% bootstrap interval over items [low, high], seeded; null when alpha is.",
    )
    items = serializers.IntegerField(help_text="Items with two or more annotations it stands on.")
    reason = serializers.CharField(help_text="Why value is null (empty otherwise).")


class LabelAlphaOutput(serializers.Serializer):
    # The JSON key is "label"; DRF's stubs type Field.label (its display name) as a string.
    label = serializers.CharField()  # type: ignore[assignment]
    items = serializers.IntegerField(help_text="Items where at least one annotator gave this label.")
    alpha = AlphaOutput(help_text="One-vs-rest alpha: this label against every other answer.")


class PairKappaOutput(serializers.Serializer):
    annotators = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa; null: see reason.")
    items = serializers.IntegerField(help_text="Items both labeled.")
    reason = serializers.CharField()


class FieldAlphaOutput(serializers.Serializer):
    field = serializers.CharField(help_text="A top-level field of the extraction answers.")
    alpha = AlphaOutput()
    agreement = serializers.FloatField(
        allow_null=True, help_text="Share of pairwise comparisons that agree on this field."
    )


class AnnotatorOutput(serializers.Serializer):
    username = serializers.CharField()
    items_labeled = serializers.IntegerField(help_text="Submitted answers in the project (all of them).")
    agreement_with_others = serializers.FloatField(
        allow_null=True, help_text="Share of comparisons with another annotator on the same item that agree."
    )
    comparisons = serializers.IntegerField()
    mean_kappa = serializers.FloatField(allow_null=True, help_text="Mean of their defined pairwise kappas.")
    agreement_with_reviewers = serializers.FloatField(
        allow_null=True, help_text="Share of their answers equal to the item's approved example."
    )
    reviewed_items = serializers.IntegerField(help_text="Their answers on items with an approved example.")
    median_seconds = serializers.FloatField(allow_null=True, help_text="Median time from claim to submit.")


class ConfusedPairOutput(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    items = serializers.IntegerField(help_text="Items that got both of these answers.")


class ConfusionOutput(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField())
    table = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Symmetric: table[i][j] items that got both labels[i] and labels[j].",
    )


class AgreementItemsOutput(serializers.Serializer):
    with_overlap = serializers.IntegerField(help_text="Items in the project with two or more annotations.")
    measured = serializers.IntegerField(help_text="The most recent of them that the figures stand on.")
    recent_labeled = serializers.IntegerField(
        help_text="Labeled items the per-annotator time and reviewer figures stand on."
    )
    limit = serializers.IntegerField(help_text="FINCH_AGREEMENT_MAX_ITEMS.")


class AgreementOutput(serializers.Serializer):
    task_type = serializers.CharField()
    items = AgreementItemsOutput()
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    alpha = AlphaOutput()
    percent_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of pairwise comparisons within items that agree."
    )
    per_label = LabelAlphaOutput(many=True, help_text="Classification only.")
    pairwise = PairKappaOutput(many=True)
    per_field = FieldAlphaOutput(many=True, help_text="Extraction only.")
    confused_pairs = ConfusedPairOutput(many=True, help_text="Classification only, most items first.")
    confusion = ConfusionOutput()
    annotators = AnnotatorOutput(many=True)
