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
    Shingle,
)
from curation.models.examples import Example, ExampleRevision, ExampleStatus, Review, ReviewDecision
from curation.models.exports import ExportJob
from curation.models.flags import Flag, FlagExample, FlagKind, FlagResolution, FlagStatus, RaisedBy
from curation.models.invitations import Invitation, InvitationStatus
from curation.models.jobs import ImportJob, Job, JobHeartbeat, JobStatus, ValidationJob
from curation.models.projects import (
    ROLE_RANK,
    GuidelinesRead,
    GuidelinesRevision,
    Membership,
    Project,
    Role,
    TaskType,
)
from curation.models.versions import DatasetVersion, Split, VersionItem, VersionStatus

__all__ = [
    "ROLE_RANK",
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
    "Job",
    "JobHeartbeat",
    "JobStatus",
    "Membership",
    "Project",
    "RaisedBy",
    "Review",
    "ReviewDecision",
    "Role",
    "Shingle",
    "Split",
    "TaskType",
    "ValidationJob",
    "VersionItem",
    "VersionStatus",
]
