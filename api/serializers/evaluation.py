from rest_framework import serializers

from api.serializers.base_models import RegisteredModelOutput
from api.serializers.common import JobOutput, StrictInputSerializer, UsernameField
from evaluation.stats import DEFAULT_RESAMPLES


class EvalRunInput(StrictInputSerializer):
    version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    base_model = serializers.CharField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        help_text="A registered model's name, or a model folder on the workers (or a hub id).",
    )
    training_run = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    few_shot = serializers.IntegerField(min_value=0, max_value=32, required=False, default=0)
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class EvalRunOutput(JobOutput):
    project = serializers.IntegerField(source="version.project_id")
    version = serializers.IntegerField(source="version_id")
    training_run = serializers.IntegerField(source="training_run_id", allow_null=True)
    kind = serializers.CharField(help_text="baseline (prompting alone) or tuned (base + adapter)")
    name = serializers.CharField()
    base_model = serializers.CharField()
    registered_model = RegisteredModelOutput(
        allow_null=True, help_text="The registered model run on (null: an unregistered path or id)."
    )
    base_model_sha256 = serializers.CharField(help_text="Of the weights loaded; empty until it starts.")
    few_shot = serializers.IntegerField()
    prompt_card = serializers.JSONField(
        help_text="How every item was put to the model and read back, with the generation `engine` "
        "(transformers or vllm) and `engine_reason`."
    )
    metrics = serializers.DictField(child=serializers.FloatField())
    primary_metric = serializers.CharField()
    n = serializers.IntegerField()
    n_skipped = serializers.IntegerField(
        help_text="Eval items left out, longer than max_seq_length (training's rule): never loaded."
    )
    skipped = serializers.ListField(
        child=serializers.DictField(), help_text='Each skipped item: {"example_id", "reason"}.'
    )
    host = serializers.CharField()
    environment = serializers.JSONField()
    cancel_requested = serializers.BooleanField(
        help_text="A lead asked to cancel it (POST .../cancel/): a running run stops between two generated tokens."
    )


class EvalPredictionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    example = serializers.IntegerField(source="example_id")
    input = serializers.CharField()
    reference = serializers.CharField()
    raw = serializers.CharField()
    extracted = serializers.CharField(allow_null=True)
    scores = serializers.DictField(child=serializers.FloatField())


class ComparisonInput(StrictInputSerializer):
    baseline = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    candidate = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    metric = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    resamples = serializers.IntegerField(
        required=False, default=DEFAULT_RESAMPLES, min_value=1000, max_value=100_000
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**32 - 1)
    min_gain = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=-1.0, max_value=1.0
    )


class ComparisonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    baseline = serializers.IntegerField(source="baseline_id")
    candidate = serializers.IntegerField(source="candidate_id")
    metric = serializers.CharField()
    baseline_score = serializers.FloatField()
    candidate_score = serializers.FloatField()
    delta = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    verdict = serializers.CharField()
    reason = serializers.CharField()
    n = serializers.IntegerField()
    resamples = serializers.IntegerField()
    seed = serializers.IntegerField()
    min_gain = serializers.FloatField()
    mcnemar = serializers.JSONField(allow_null=True)
    guardrails = serializers.JSONField()
    created_by = UsernameField()
    created_at = serializers.DateTimeField()
