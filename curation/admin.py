from django.contrib import admin
from django.http import HttpRequest

from curation.models import (
    AuditEvent,
    ClusterMember,
    DatasetVersion,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleRevision,
    Flag,
    FlagExample,
    Invitation,
    LabelingAssignment,
    LabelingItem,
    Membership,
    Project,
    Review,
    ValidationJob,
    VersionItem,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never changed here: Finch's writes go through its services (validation, history,
    the audit log), which the admin's forms would bypass. Staff change projects, members, examples,
    flags and jobs in Finch's own pages or API, which call those services."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MembershipInline(ReadOnlyInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "task_type", "created_by", "created_at"]
    list_filter = ["task_type"]
    search_fields = ["name", "target_behavior"]
    inlines = [MembershipInline]
    # Guidelines change on the project's Settings page (or PATCH), which keeps each revision.
    readonly_fields = ["guidelines", "guidelines_revision"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "user", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "project__name"]


class ExampleRevisionInline(ReadOnlyInline):
    model = ExampleRevision
    extra = 0
    can_delete = False
    fields = ("revision", "status", "change", "changed_by", "changed_at", "input", "output")
    readonly_fields = fields


@admin.register(Example)
class ExampleAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "project",
        "status",
        "source",
        "external_id",
        "duplicate_of",
        "updated_at",
    ]
    list_filter = ["status", "project"]
    search_fields = ["input", "output", "external_id"]
    raw_id_fields = ["duplicate_of", "created_by", "updated_by", "labeling_item"]
    # History and identity are derived by the services; admin shows them, never edits them.
    readonly_fields = ["content_hash", "revision", "created_at", "updated_at"]
    inlines = [ExampleRevisionInline]


@admin.register(ExampleRevision)
class ExampleRevisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "example", "revision", "status", "change", "changed_by", "changed_at"]
    raw_id_fields = ["example", "changed_by"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "example", "decision", "reviewer", "created_at"]
    list_filter = ["decision"]
    raw_id_fields = ["example", "reviewer"]


class FlagExampleInline(ReadOnlyInline):
    model = FlagExample
    extra = 0
    raw_id_fields = ["example"]


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "kind", "status", "raised_by", "resolution", "created_at"]
    list_filter = ["kind", "status", "raised_by"]
    readonly_fields = ["examples_key"]
    inlines = [FlagExampleInline]


class LabelingAssignmentInline(ReadOnlyInline):
    model = LabelingAssignment
    raw_id_fields = ["annotator"]


@admin.register(LabelingItem)
class LabelingItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "status", "target_overlap", "annotation_count", "source", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "created_by"]
    inlines = [LabelingAssignmentInline]


@admin.register(ValidationJob)
class ValidationJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "status", "progress", "checked", "invalid", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["traceback"]


class ClusterMemberInline(ReadOnlyInline):
    model = ClusterMember
    extra = 0
    raw_id_fields = ["example"]


@admin.register(DuplicateCluster)
class DuplicateClusterAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "job", "kept", "status", "changed_by", "changed_at"]
    list_filter = ["status"]
    raw_id_fields = ["kept", "job", "changed_by"]
    inlines = [ClusterMemberInline]


@admin.register(DedupJob)
class DedupJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "method", "status", "clusters", "duplicates_marked", "created_at"]
    list_filter = ["method", "status"]
    readonly_fields = ["traceback"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "number", "name", "status", "sha256", "frozen_at")
    list_filter = ("status",)


@admin.register(VersionItem)
class VersionItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "version", "split", "example_id", "content_hash")
    list_filter = ("split",)
    list_select_related = ("version__project",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the log is only ever appended to, by the services."""

    list_display = ["id", "at", "project", "actor_name", "action", "summary"]
    list_filter = ["action"]
    search_fields = ["summary", "actor_name"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "role", "created_by", "created_at", "expires_at", "accepted_by"]
    list_filter = ["role"]
    exclude = ["token_hash"]
