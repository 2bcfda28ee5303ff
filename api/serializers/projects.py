from rest_framework import serializers

from api.serializers.common import StrictInputSerializer, UsernameField
from curation.models import LabelingFill, LabelingOrder, Role, TaskType
from curation.models.labeling import MAX_OVERLAP


class ProjectInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    task_type = serializers.ChoiceField(choices=TaskType.values)
    target_behavior = serializers.CharField(max_length=20_000)
    system_prompt = serializers.CharField(max_length=50_000, required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, allow_empty=True
    )
    output_schema = serializers.JSONField(required=False, allow_null=True)
    min_gain = serializers.FloatField(required=False, min_value=-1.0, max_value=1.0)
    reviewers_may_not_review_own = serializers.BooleanField(
        required=False,
        help_text="Separation of duties (default true): reviewers may not approve or reject examples "
        "they wrote or last edited; leads may, and the audit log marks it.",
    )
    guidelines = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=100_000,
        help_text="Annotation guidelines (Markdown); each change is kept as a new revision.",
    )
    labeling_overlap = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_OVERLAP,
        help_text="Independent annotations each input of the labeling queue gets (1 to 5).",
    )
    labeling_overlap_share = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="The share of queued inputs (above 0, at most 1) that get the overlap; the others get one.",
    )
    labeling_sample_seed = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Picks which inputs are in the overlap sample; the same seed picks the same ones.",
    )
    labeling_order = serializers.ChoiceField(
        required=False,
        choices=LabelingOrder.values,
        help_text="Which of the equally covered queued inputs come first: `arrival` (as queued), "
        "`uncertainty` (least confident model suggestion first) or `novelty` (least like the latest "
        "frozen version's train inputs first; needs a frozen version, ranked by a worker).",
    )
    labeling_fill = serializers.ChoiceField(
        required=False,
        choices=LabelingFill.values,
        help_text="How the queue fills an overlap above 1: `depth` (the default: the most-covered "
        "inputs first, so a started input gets all its annotations, and becomes an example, before "
        "new ones are started) or `breadth` (every input gets a first annotation before any gets "
        "a second).",
    )
    suggestion_blind_share = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="The share of queued inputs (a seeded sample, 0 to 1) whose model suggestion "
        "annotators see only after answering.",
    )

    filler_words = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True),
        required=False,
        max_length=200,
        help_text="Words and phrases stripped from the start and the end of short texts before "
        "near-duplicates and contradictions are looked for (default: an English list).",
    )
    currency_folds = serializers.BooleanField(
        required=False,
        help_text="Currency signs count as one when texts are compared ('£1' / '€1'); default true, "
        "false for extraction projects.",
    )


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    task_type = serializers.CharField()
    target_behavior = serializers.CharField()
    system_prompt = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    output_schema = serializers.JSONField(allow_null=True)
    min_gain = serializers.FloatField()
    reviewers_may_not_review_own = serializers.BooleanField()
    labeling_overlap = serializers.IntegerField()
    labeling_overlap_share = serializers.FloatField()
    labeling_sample_seed = serializers.IntegerField()
    labeling_order = serializers.CharField()
    labeling_fill = serializers.CharField()
    suggestion_blind_share = serializers.FloatField()
    filler_words = serializers.ListField(child=serializers.CharField())
    currency_folds = serializers.BooleanField()
    created_by = UsernameField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    my_role = serializers.CharField(allow_null=True, help_text="Your role; null for staff outside it.")


class ProjectDetailOutput(ProjectOutput):
    guidelines = serializers.CharField(help_text="Annotation guidelines (Markdown).")
    guidelines_revision = serializers.IntegerField(help_text="0 while there are none; +1 per change.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Examples by status.")
    open_flags = serializers.IntegerField()
    labeling = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Labeling-queue items by status (queued, agreed, disagreed, alternatives), and "
        "`claimable`: queued items with a free slot now.",
    )


class MemberInput(StrictInputSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.values)


class MemberOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    user_id = serializers.IntegerField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
