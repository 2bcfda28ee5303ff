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
    Membership,
    Project,
    Review,
    ValidationJob,
    VersionItem,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "task_type", "created_by", "created_at"]
    list_filter = ["task_type"]
    search_fields = ["name", "target_behavior"]
    inlines = [MembershipInline]
    # Guidelines change on the project's Settings page (or PATCH), which keeps each revision.
    readonly_fields = ["guidelines", "guidelines_revision"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "user", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "project__name"]


class ExampleRevisionInline(admin.TabularInline):
    model = ExampleRevision
    extra = 0
    can_delete = False
    fields = ("revision", "status", "change", "changed_by", "changed_at", "input", "output")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Example | None = None) -> bool:
        return False


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
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
    raw_id_fields = ["duplicate_of", "created_by", "updated_by"]
    # History and identity are derived by the services; admin shows them, never edits them.
    readonly_fields = ["content_hash", "revision", "created_at", "updated_at"]
    inlines = [ExampleRevisionInline]


@admin.register(ExampleRevision)
class ExampleRevisionAdmin(admin.ModelAdmin):
    list_display = ["id", "example", "revision", "status", "change", "changed_by", "changed_at"]
    raw_id_fields = ["example", "changed_by"]

    def has_change_permission(self, request: HttpRequest, obj: ExampleRevision | None = None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "example", "decision", "reviewer", "created_at"]
    list_filter = ["decision"]
    raw_id_fields = ["example", "reviewer"]


class FlagExampleInline(admin.TabularInline):
    model = FlagExample
    extra = 0
    raw_id_fields = ["example"]


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "raised_by", "resolution", "created_at"]
    list_filter = ["kind", "status", "raised_by"]
    readonly_fields = ["examples_key"]
    inlines = [FlagExampleInline]


@admin.register(ValidationJob)
class ValidationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "checked", "invalid", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["traceback"]


class ClusterMemberInline(admin.TabularInline):
    model = ClusterMember
    extra = 0
    raw_id_fields = ["example"]


@admin.register(DuplicateCluster)
class DuplicateClusterAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "job", "kept", "status", "changed_by", "changed_at"]
    list_filter = ["status"]
    raw_id_fields = ["kept", "job", "changed_by"]
    inlines = [ClusterMemberInline]


@admin.register(DedupJob)
class DedupJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "method", "status", "clusters", "duplicates_marked", "created_at"]
    list_filter = ["method", "status"]
    readonly_fields = ["traceback"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Frozen versions and their items: viewable, never changed here (the database refuses too)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is only ever appended to, by the services."""

    list_display = ["id", "at", "project", "actor_name", "action", "summary"]
    list_filter = ["action"]
    search_fields = ["summary", "actor_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
