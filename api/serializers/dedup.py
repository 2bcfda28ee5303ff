from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import QualityJobOutput, StrictInputSerializer, UsernameField
from curation.cluster_reasons import member_reasons
from curation.models import DedupFields, DedupJob, DedupMethod, DuplicateCluster, Shingle
from curation.services.dedup import word_folding


class DedupJobInput(StrictInputSerializer):
    method = serializers.ChoiceField(choices=DedupMethod.values)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    fields = serializers.ChoiceField(  # type: ignore[assignment]  # the contract's name; shadows Serializer.fields
        choices=DedupFields.values, required=False, default=DedupFields.INPUT
    )
    num_perm = serializers.IntegerField(required=False, default=128, min_value=16, max_value=1024)
    shingle = serializers.ChoiceField(choices=Shingle.values, required=False, default=Shingle.AUTO)
    ngram = serializers.IntegerField(required=False, default=0, min_value=0, max_value=32)


class DedupJobOutput(QualityJobOutput):
    project = serializers.IntegerField(source="project_id")
    method = serializers.CharField()
    fields = serializers.CharField()  # type: ignore[assignment]  # the contract's name; shadows Serializer.fields
    threshold = serializers.FloatField(allow_null=True)
    num_perm = serializers.IntegerField()
    shingle = serializers.CharField()
    ngram = serializers.IntegerField()
    chunks = serializers.SerializerMethodField()

    def get_chunks(self, job: DedupJob) -> dict[str, int]:
        return {"total": len(job.chunk_bounds), "done": len(job.chunks_done)}

    examples_checked = serializers.IntegerField()
    clusters = serializers.IntegerField()
    duplicates_marked = serializers.IntegerField()
    flags_raised = serializers.IntegerField(
        help_text="Contradiction flags raised: inputs alike under different labels (input-only jobs "
        "on classification and extraction projects), never marked duplicates of each other."
    )


class ClusterMemberOutput(serializers.Serializer):
    example = serializers.IntegerField(source="example_id")
    similarity = serializers.FloatField()
    reason = serializers.CharField(
        help_text="Why the job grouped this member with the kept example, in a sentence (empty for "
        "the kept one)."
    )


class ClusterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    job = serializers.IntegerField(source="job_id")
    kept = serializers.IntegerField(source="kept_id")
    status = serializers.CharField()
    members = serializers.SerializerMethodField()
    changed_by = UsernameField()
    changed_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(ClusterMemberOutput(many=True))
    def get_members(self, cluster: DuplicateCluster) -> list[dict[str, object]]:
        members = sorted(cluster.members.all(), key=lambda member: member.pk)
        reasons = member_reasons(cluster, word_folding(cluster.project))
        return [
            {
                "example": member.example_id,
                "similarity": member.similarity,
                "reason": reasons.get(member.example_id, ""),
            }
            for member in members
        ]


class ClusterKeepInput(StrictInputSerializer):
    example = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class ContradictionJobInput(StrictInputSerializer):
    threshold = serializers.FloatField(required=False, default=0.9, min_value=0.0, max_value=1.0)
    method = serializers.ChoiceField(choices=DedupMethod.values, required=False, default=DedupMethod.MINHASH)


class ContradictionJobOutput(QualityJobOutput):
    project = serializers.IntegerField(source="project_id")
    method = serializers.CharField()
    threshold = serializers.FloatField()
    examples_checked = serializers.IntegerField()
    groups_checked = serializers.IntegerField()
    flags_raised = serializers.IntegerField()
