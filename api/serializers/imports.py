from rest_framework import serializers

from api.serializers.common import JobOutput, StrictInputSerializer
from curation.models import ExampleStatus
from curation.pipeline.formats import FORMATS
from curation.services.import_rows import UNLABELED


class ImportInput(StrictInputSerializer):
    file = serializers.FileField(allow_empty_file=False)
    format = serializers.ChoiceField(choices=FORMATS, required=False, default="auto")
    input_field = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    output_field = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(
        choices=[*ExampleStatus.values, UNLABELED],
        required=False,
        default=ExampleStatus.DRAFT,
        help_text="The status rows land as; `unlabeled` (lead) fills the labeling queue with the "
        "file's inputs instead (a row with an output is a row error).",
    )


class RowErrorOutput(serializers.Serializer):
    line = serializers.IntegerField()
    error = serializers.CharField()


class ImportJobOutput(JobOutput):
    project = serializers.IntegerField(source="project_id")
    filename = serializers.CharField()
    size = serializers.IntegerField()
    format = serializers.CharField()
    detected_format = serializers.CharField()
    input_field = serializers.CharField()
    output_field = serializers.CharField()
    initial_status = serializers.CharField()
    total = serializers.IntegerField()
    created = serializers.IntegerField()
    skipped_existing = serializers.IntegerField()
    failed = serializers.IntegerField()
    # The contract names this field `errors`, which shadows Serializer.errors on this output-only class.
    errors = RowErrorOutput(many=True, help_text="The first 1000 row errors.")  # type: ignore[assignment]
