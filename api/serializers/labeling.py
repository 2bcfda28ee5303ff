"""The labeling queue over the API: queue inputs, take the next item, answer or skip it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import StrictInputSerializer, UsernameField
from api.serializers.examples import ExampleInputField, ExampleInputJSONField, ExampleOutputJSONField
from curation import labeling_selectors as reads
from curation.filters import MAX_ID
from curation.models import SKIP_REASONS, LabelingItem, Suggestion, SuggestionUse
from curation.services import suggestion_use
from curation.services.labeling import MAX_INPUTS_PER_CALL, MAX_SKIP_REASON
from curation.services.labeling_aside import MAX_ITEMS_PER_CALL


class QueueRowInput(StrictInputSerializer):
    input = ExampleInputJSONField(help_text="A string, or for chat a list of {role, content} messages.")
    metadata = serializers.DictField(required=False)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True)


class QueueInput(StrictInputSerializer):
    inputs = serializers.ListField(child=QueueRowInput(), min_length=1, max_length=MAX_INPUTS_PER_CALL)


class QueuedOutput(serializers.Serializer):
    created = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the new items.")
    already_queued = serializers.IntegerField(help_text="Inputs that were in the queue already.")


class LabelingItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    input = ExampleInputField()
    metadata = serializers.DictField()
    external_id = serializers.CharField(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
    status = serializers.CharField()
    target_overlap = serializers.IntegerField(help_text="Annotations this item gets.")
    annotation_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class SuggestionAlternativeOutput(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    probability = serializers.FloatField()


class ItemSuggestionOutput(serializers.Serializer):
    """A model suggestion for an item (a suggestion with its run loaded)."""

    id = serializers.IntegerField()
    output = serializers.CharField(help_text="In stored form: a label, JSON text, or text.")
    confidence = serializers.FloatField(
        help_text="Classification: the label's probability over the label set. Others: the answer's "
        "mean token log-probability (at most 0)."
    )
    valid = serializers.BooleanField(
        help_text="Whether it can be kept as it is (a label of the set, "
        "JSON valid against the schema, text that is not empty)."
    )
    alternatives = SuggestionAlternativeOutput(
        many=True, help_text="Classification: the most probable labels, most probable first."
    )
    model = serializers.CharField(source="run.model_label")
    run = serializers.IntegerField(source="run_id", help_text="The suggestion run that made it.")


@extend_schema_field(ItemSuggestionOutput(allow_null=True))
class ItemSuggestionField(serializers.Field):
    """The item's latest model suggestion as the caller may see it: null without one, and null
    for an item of the blind sample until the caller answered it (context `user`; without one,
    as before answering)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        super().__init__(**kwargs)

    def to_representation(self, item: LabelingItem) -> Any:
        found: Suggestion | None = suggestion_use.visible_suggestion(item, self.context.get("user"))
        return ItemSuggestionOutput(found).data if found is not None else None


class SkipInput(StrictInputSerializer):
    reason = serializers.CharField(
        max_length=MAX_SKIP_REASON,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Why you pass (optional): one of {', '.join(repr(r) for r in SKIP_REASONS)}, or your own words.",
    )


class ItemsInput(StrictInputSerializer):
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_ITEMS_PER_CALL,
        help_text="Item ids.",
    )


class SetAsideOutput(serializers.Serializer):
    set_aside = serializers.ListField(child=serializers.IntegerField())


class RequeuedOutput(serializers.Serializer):
    requeued = serializers.ListField(child=serializers.IntegerField())


class SkipOutput(serializers.Serializer):
    annotator = UsernameField()
    reason = serializers.CharField(source="skip_reason", help_text="Empty when they did not say.")
    at = serializers.DateTimeField(source="claimed_at")


class AnnotationOutput(serializers.Serializer):
    annotator = UsernameField()
    output = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    seconds = serializers.FloatField(
        source="seconds_spent", allow_null=True, help_text="From claim to answer."
    )


class LabelingItemDetailOutput(LabelingItemOutput):
    """Context: `user` and their `role` in the project (what of the answers they may see)."""

    annotations = serializers.SerializerMethodField(
        help_text="Every answer for reviewers and leads; an annotator sees only their own until the "
        "item is labeled."
    )
    skips = serializers.SerializerMethodField(
        help_text="Who passed on the item and why (reviewers and leads; an annotator sees their own)."
    )
    examples = serializers.SerializerMethodField(help_text="The examples the item became.")
    flag = serializers.SerializerMethodField(help_text="The disagreement flag its answers raised, if any.")
    suggestion = ItemSuggestionField()

    @extend_schema_field(AnnotationOutput(many=True))
    def get_annotations(self, item: LabelingItem) -> Any:
        answers = reads.visible_annotations(item=item, user=self.context["user"], role=self.context["role"])
        return AnnotationOutput(answers, many=True).data

    @extend_schema_field(SkipOutput(many=True))
    def get_skips(self, item: LabelingItem) -> Any:
        skips = reads.visible_skips(item=item, user=self.context["user"], role=self.context["role"])
        return SkipOutput(skips, many=True).data

    def get_examples(self, item: LabelingItem) -> list[int]:
        return reads.item_example_ids(item)

    def get_flag(self, item: LabelingItem) -> int | None:
        return reads.item_flag_id(item)


class ClaimedItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    input = ExampleInputField()
    metadata = serializers.DictField()
    suggestion = ItemSuggestionField()


class ClaimOutput(serializers.Serializer):
    item = ClaimedItemOutput()
    expires_at = serializers.DateTimeField(
        help_text="Answer before then, or the slot goes back to the queue."
    )


class AnnotationInput(StrictInputSerializer):
    output = ExampleOutputJSONField(help_text="A label of the project; for extraction a JSON object.")
    suggestion = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the suggestion the item showed you (default: the item's latest).",
    )


class AnswerChangeInput(StrictInputSerializer):
    output = ExampleOutputJSONField(
        help_text="Your new answer: a label of the project; for extraction a JSON object."
    )


class SubmittedOutput(serializers.Serializer):
    item = serializers.IntegerField()
    annotator = serializers.CharField()
    output = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    seconds = serializers.FloatField(allow_null=True)
    item_status = serializers.CharField(help_text="queued until the item has all its annotations.")
    examples = serializers.ListField(child=serializers.IntegerField(), help_text="Once labeled.")
    flag = serializers.IntegerField(allow_null=True, help_text="The disagreement flag it raised.")
    suggestion = serializers.IntegerField(allow_null=True, help_text="The suggestion the item had.")
    suggestion_use = serializers.ChoiceField(
        choices=[*SuggestionUse.values, ""],
        help_text="What your answer did with it: accepted (unchanged), edited, replaced, unseen (the item "
        "is in the blind sample: it was not shown before you answered); empty without a suggestion.",
    )
