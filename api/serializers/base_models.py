from rest_framework import serializers


class BaseModelFileOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The file's path in the model folder.")
    size = serializers.IntegerField()
    mtime_ns = serializers.IntegerField()
    sha256 = serializers.CharField()


class BaseModelOutput(serializers.Serializer):
    """A registered base model in a list: what the launch forms and the models page show."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField(help_text="The model folder on the workers.")
    weights_sha256 = serializers.CharField(
        help_text="sha256 over the weight files' `sha256sum` lines, sorted by path (docs/training.md)."
    )
    config_sha256 = serializers.CharField()
    parameter_count = serializers.IntegerField(allow_null=True, help_text="From the safetensors headers.")
    context_length = serializers.IntegerField(allow_null=True, help_text="max_position_embeddings.")
    has_chat_template = serializers.BooleanField()
    license = serializers.CharField()
    source_kind = serializers.CharField(help_text="folder, or gguf (a GGUF file, converted)")
    source_file = serializers.CharField(help_text="The GGUF file's name.")
    source_sha256 = serializers.CharField(help_text="The GGUF file's sha256.")
    recommended = serializers.JSONField(help_text='{"hyperparameters": {...}, "lora": {...}}')
    registered_by = serializers.CharField(help_text="The operator who ran the command, user@host.")
    created_at = serializers.DateTimeField()


class BaseModelDetailOutput(BaseModelOutput):
    files = BaseModelFileOutput(many=True, help_text="Every file of the folder as registered.")


class RegisteredModelOutput(serializers.Serializer):
    """The registered model a run refers to."""

    id = serializers.IntegerField()
    name = serializers.CharField()
