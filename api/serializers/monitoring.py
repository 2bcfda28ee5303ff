from typing import Any

from rest_framework import serializers

from api.serializers.common import JobOutput, StrictInputSerializer, UsernameField
from api.serializers.examples import ExampleInputJSONField
from evaluation.models import DriftReport


class DeploymentInput(StrictInputSerializer):
    training_run = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    name = serializers.CharField(max_length=200)
    # Checked by evaluation.monitoring, which names any bad threshold.
    thresholds = serializers.JSONField(required=False, default=dict)
    window_hours = serializers.FloatField(required=False, default=24.0, min_value=0.1, max_value=24 * 365)
    min_samples = serializers.IntegerField(required=False, default=50, min_value=1, max_value=1_000_000)


class DeploymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="training_run.version.project_id")
    training_run = serializers.IntegerField(source="training_run_id")
    version = serializers.IntegerField(source="training_run.version_id")
    name = serializers.CharField()
    thresholds = serializers.JSONField()
    window_hours = serializers.FloatField()
    min_samples = serializers.IntegerField()
    ood_similarity = serializers.FloatField(allow_null=True)
    calibration = serializers.JSONField()
    created_by = UsernameField()
    created_at = serializers.DateTimeField()


class LiveSampleInput(serializers.Serializer):
    """One live sample; documentation only: evaluation.monitoring checks the rows and names a bad one."""

    input = ExampleInputJSONField(help_text="The text sent to the model, or for chat its messages.")
    output = serializers.CharField(required=False, allow_blank=True, help_text="The model's answer.")
    at = serializers.DateTimeField(required=False, help_text="When it was served; default now.")


class SamplesAccepted(serializers.Serializer):
    accepted = serializers.IntegerField()


class DriftReportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    deployment = serializers.IntegerField(source="deployment_id")
    window = serializers.SerializerMethodField()
    n = serializers.IntegerField()
    enough_data = serializers.BooleanField()
    ood_rate = serializers.FloatField(allow_null=True)
    input_drift = serializers.FloatField(allow_null=True)
    input_drift_baseline = serializers.FloatField(allow_null=True)
    invalid_label_rate = serializers.FloatField(allow_null=True)
    json_invalid_rate = serializers.FloatField(allow_null=True)
    schema_violation_rate = serializers.FloatField(allow_null=True)
    length_shift_p = serializers.FloatField(allow_null=True)
    alert = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    ood_samples = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_window(self, report: DriftReport) -> dict[str, Any] | None:
        if report.window_start is None:  # no report yet (LatestDriftOutput)
            return None
        hours = (report.window_end - report.window_start).total_seconds() / 3600
        return {
            "start": report.window_start.isoformat(),
            "end": report.window_end.isoformat(),
            "hours": hours,
        }

    def get_ood_samples(self, report: DriftReport) -> int:
        return len(report.ood_sample_ids)


class LatestDriftOutput(DriftReportOutput):
    """The newest stored report; before the first one, the same fields empty (alert false, n 0,
    window null) with `status` "no_report" and a reason saying how to get one."""

    id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    status = serializers.SerializerMethodField(help_text="reported | no_report")
    pending_job = serializers.SerializerMethodField(help_text="A queued or running drift report job's id.")

    def get_status(self, report: DriftReport) -> str:
        return "reported" if report.pk else "no_report"

    def get_pending_job(self, report: DriftReport) -> int | None:
        pending = self.context.get("pending_job")
        return pending.pk if pending is not None else None


class DriftReportJobInput(StrictInputSerializer):
    hours = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0.001,
        max_value=24 * 365,
        help_text="Window length in hours, ending when the job runs; default the deployment's.",
    )


class DriftReportJobOutput(JobOutput):
    deployment = serializers.IntegerField(source="deployment_id")
    hours = serializers.FloatField(allow_null=True)
    report = serializers.IntegerField(source="report_id", allow_null=True)


class ToAnnotationInput(StrictInputSerializer):
    with_suggestions = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also start a suggestion run of the deployed adapter itself on the report's "
        "waiting inputs (lead; 400 when the deployment's training run has no adapter).",
    )


class AnnotationCreated(serializers.Serializer):
    created = serializers.IntegerField(help_text="Inputs newly queued for labeling.")
    already_queued = serializers.IntegerField(help_text="Inputs that were in the labeling queue already.")
    suggestion_run = serializers.IntegerField(
        allow_null=True,
        help_text="The suggestion run started with `with_suggestions` (null without, or when none "
        "of the report's inputs waits in the queue).",
    )
