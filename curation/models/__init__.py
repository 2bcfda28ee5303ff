"""The curation domain: projects, members, examples with their history, reviews, flags, jobs, frozen versions."""

from curation.models.audit import AuditEvent
from curation.models.dedup import (
    CachedEmbedding,
    ClusterMember,
    ClusterStatus,
    ContradictionJob,
    DedupFields,
    DedupJob,
    DedupMethod,
    DuplicateCluster,
    EmbeddingShare,
    Shingle,
)
from curation.models.examples import Example, ExampleRevision, ExampleStatus, Review, ReviewDecision
from curation.models.exports import ExportJob
from curation.models.flags import Flag, FlagExample, FlagKind, FlagResolution, FlagStatus, RaisedBy
from curation.models.invitations import Invitation, InvitationStatus
from curation.models.jobs import ImportJob, Job, JobHeartbeat, JobStatus, QualityJob, ValidationJob
from curation.models.labeling import (
    MAX_OVERLAP,
    SKIP_REASONS,
    AssignmentState,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    SuggestionUse,
)
from curation.models.projects import (
    ROLE_RANK,
    GuidelinesRead,
    GuidelinesRevision,
    LabelingFill,
    LabelingOrder,
    Membership,
    Project,
    Role,
    TaskType,
)
from curation.models.suggestions import Suggestion
from curation.models.versions import DatasetVersion, Split, VersionItem, VersionStatus

__all__ = [
    "MAX_OVERLAP",
    "ROLE_RANK",
    "SKIP_REASONS",
    "AssignmentState",
    "AuditEvent",
    "CachedEmbedding",
    "ClusterMember",
    "ClusterStatus",
    "ContradictionJob",
    "DatasetVersion",
    "DedupFields",
    "DedupJob",
    "DedupMethod",
    "DuplicateCluster",
    "EmbeddingShare",
    "Example",
    "ExampleRevision",
    "ExampleStatus",
    "ExportJob",
    "Flag",
    "FlagExample",
    "FlagKind",
    "FlagResolution",
    "FlagStatus",
    "GuidelinesRead",
    "GuidelinesRevision",
    "ImportJob",
    "Invitation",
    "InvitationStatus",
    "ItemStatus",
    "Job",
    "JobHeartbeat",
    "JobStatus",
    "LabelingAssignment",
    "LabelingFill",
    "LabelingItem",
    "LabelingOrder",
    "Membership",
    "Project",
    "QualityJob",
    "RaisedBy",
    "Review",
    "ReviewDecision",
    "Role",
    "Shingle",
    "Split",
    "Suggestion",
    "SuggestionUse",
    "TaskType",
    "ValidationJob",
    "VersionItem",
    "VersionStatus",
]
