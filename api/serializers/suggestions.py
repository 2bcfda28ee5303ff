from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.base_models import RegisteredModelOutput
from api.serializers.common import JobOutput, StrictInputSerializer
from curation.models import Suggestion
from curation.services.heartbeat import heartbeat_of
from evaluation.models import SuggestionRun, SuggestionTarget
from evaluation.services import MAX_FEW_SHOT
from evaluation.suggestion_quality import suggestion_quality

BIGGEST_ID = 2**63 - 1


class SuggestionRunInput(StrictInputSerializer):
    base_model = serializers.CharField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        help_text="Without training_run: a registered model's name, or a model folder on the workers.",
    )
    training_run = serializers.IntegerField(
        min_value=1,
        max_value=BIGGEST_ID,
        required=False,
        allow_null=True,
        help_text="A run of the project whose comparison said ship.",
    )
    few_shot = serializers.IntegerField(min_value=0, max_value=MAX_FEW_SHOT, required=False, default=0)
    target = serializers.ChoiceField(
        choices=SuggestionTarget.values, required=False, default=SuggestionTarget.QUEUE
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGGEST_ID),
        required=False,
        allow_null=True,
        default=None,
        help_text="Queued item ids (target queue) or draft example ids (drafts); none: the next ones.",
    )
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, required=False, default=0)


class SuggestionRunOutput(JobOutput):
    """A run in a list: what the runs table shows."""

    project = serializers.IntegerField(source="project_id")
    model = serializers.CharField(source="model_label", help_text="The model as people know it.")
    base_model = serializers.CharField()
    registered_model = RegisteredModelOutput(
        allow_null=True, help_text="The registered model run on (null: an unregistered path or id)."
    )
    base_model_sha256 = serializers.CharField(help_text="Of the weights loaded; empty until it starts.")
    training_run = serializers.IntegerField(source="training_run_id", allow_null=True)
    adapter_sha256 = serializers.CharField()
    deployment = serializers.IntegerField(source="deployment_id", allow_null=True)
    version = serializers.IntegerField(
        source="version_id", allow_null=True, help_text="The frozen version the prompt came from."
    )
    few_shot = serializers.IntegerField()
    target = serializers.CharField()
    n_targets = serializers.IntegerField()
    n_done = serializers.IntegerField()
    n_skipped = serializers.IntegerField(help_text="Inputs longer than max_seq_length: no suggestion.")
    seed = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()


class EstimateOutput(serializers.Serializer):
    value = serializers.FloatField()
    low = serializers.FloatField(help_text="The 95% bootstrap interval's ends.")
    high = serializers.FloatField()
    n = serializers.IntegerField()


class BandOutput(serializers.Serializer):
    confidence_low = serializers.FloatField()
    confidence_high = serializers.FloatField()
    estimate = EstimateOutput()


class QualityOutput(serializers.Serializer):
    task_type = serializers.CharField()
    metrics = serializers.ListField(child=serializers.CharField())
    primary_metric = serializers.CharField()
    n_suggestions = serializers.IntegerField()
    n_labeled = serializers.IntegerField(help_text="Inputs with a final human output.")
    valid = EstimateOutput(allow_null=True, help_text="Share of all the run's suggestions that are valid.")
    final = serializers.DictField(
        child=EstimateOutput(allow_null=True), help_text="metric -> on what each input finally became"
    )
    answers = serializers.DictField(
        child=EstimateOutput(allow_null=True), help_text="metric -> on each answer"
    )
    blind = serializers.DictField(
        child=EstimateOutput(allow_null=True),
        help_text="metric -> on answers given without seeing the suggestion (the honest measure)",
    )
    bands = BandOutput(
        many=True, help_text="The primary metric per confidence quartile, least confident first."
    )
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()


class SuggestionRunDetailOutput(SuggestionRunOutput):
    prompt_card = serializers.JSONField(
        help_text="How every input was put to the model and read back, with the generation `engine` "
        "(transformers or vllm) and `engine_reason`."
    )
    host = serializers.CharField()
    heartbeat_at = serializers.SerializerMethodField()
    environment = serializers.JSONField()
    quality = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_heartbeat_at(self, run: SuggestionRun) -> Any:
        beat = heartbeat_of(run)  # the renderer writes the datetime as ISO 8601
        return beat.beat_at if beat is not None else None

    @extend_schema_field(QualityOutput(allow_null=True, help_text="Null until the run succeeds."))
    def get_quality(self, run: SuggestionRun) -> dict[str, Any] | None:
        if run.status != "succeeded":
            return None
        return dict(QualityOutput(suggestion_quality(run).as_dict()).data)


class SuggestionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(
        source="item_id", allow_null=True, help_text="The queued item (target queue)."
    )
    example = serializers.IntegerField(
        source="example_id", allow_null=True, help_text="The draft (target drafts)."
    )
    input = serializers.SerializerMethodField()
    output = serializers.CharField(
        help_text="In an example output's stored form: a label, JSON text or text."
    )
    confidence = serializers.FloatField(
        help_text="Classification: the label's probability over the label set; else mean token log-probability."
    )
    valid = serializers.BooleanField()
    alternatives = serializers.ListField(
        child=serializers.DictField(), help_text='[{"label", "probability"}]'
    )

    def get_input(self, suggestion: Suggestion) -> str:
        source = suggestion.item if suggestion.item_id is not None else suggestion.example
        return source.input if source is not None else ""
