from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import assets, health, login
from curation.views import (
    accounts,
    audit,
    dedup,
    examples,
    exports,
    flags,
    imports,
    labeling,
    pages,
    people,
    projects,
    review,
    team,
    versions,
)
from evaluation import monitoring_views as monitoring
from evaluation import suggestion_views as suggestions
from evaluation import views as evaluation
from training import views as training

handler404 = "api.exceptions.not_found"

urlpatterns = [
    path("", pages.home, name="home"),
    path("projects/<int:project_id>/", pages.project_dashboard, name="project-dashboard"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<int:project_id>/settings/", projects.project_settings, name="project-settings"),
    path("projects/<int:project_id>/guidelines/", projects.guidelines, name="guidelines"),
    path("projects/<int:project_id>/guidelines/read/", projects.guidelines_read, name="guidelines-read"),
    path(
        "projects/<int:project_id>/validation-jobs/",
        projects.validation_job_start,
        name="validation-job-start",
    ),
    path("projects/<int:project_id>/members/", people.member_change, name="project-member"),
    path("projects/<int:project_id>/people/", people.people, name="project-people"),
    path("projects/<int:project_id>/team/", team.team, name="team"),
    path("projects/<int:project_id>/people/search/", people.people_search, name="people-search"),
    path("projects/<int:project_id>/invitations/", people.invitation_new, name="invitation-new"),
    path("invitations/<int:invitation_id>/revoke/", people.invitation_cancel, name="invitation-revoke"),
    path("projects/<int:project_id>/reset-links/", people.reset_link_new, name="reset-link-new"),
    path("invite/<str:token>/", accounts.invitation, name="invitation"),
    path("account/password/", accounts.password_change, name="password-change"),
    path("account/reset/<str:uidb64>/<str:token>/", accounts.password_reset, name="password-reset"),
    path("projects/<int:project_id>/audit/", audit.audit_log, name="audit-log"),
    path("projects/<int:project_id>/write/", examples.write, name="write"),
    path("projects/<int:project_id>/my-work/", examples.my_work, name="my-work"),
    path("projects/<int:project_id>/examples/", examples.browse, name="browse"),
    path("projects/<int:project_id>/review/", review.review_queue, name="review"),
    path("projects/<int:project_id>/label/", labeling.label, name="label"),
    path("projects/<int:project_id>/label/submit/", labeling.label_submit, name="label-submit"),
    path("projects/<int:project_id>/label/skip/", labeling.label_skip, name="label-skip"),
    path("projects/<int:project_id>/label/change/", labeling.label_change, name="label-change"),
    path("projects/<int:project_id>/label/queue/", labeling.label_queue, name="label-queue"),
    path("projects/<int:project_id>/label/queue/move/", labeling.label_queue_move, name="label-queue-move"),
    path("projects/<int:project_id>/flags/", flags.flag_list, name="flags"),
    path("projects/<int:project_id>/contradictions/", flags.find_contradictions, name="find-contradictions"),
    path("projects/<int:project_id>/duplicates/", dedup.duplicates, name="duplicates"),
    path("clusters/<int:cluster_id>/", dedup.cluster_decide, name="cluster-decide"),
    path("projects/<int:project_id>/import/", imports.import_page, name="import"),
    path("examples/<int:example_id>/", examples.example_detail, name="example"),
    path("examples/<int:example_id>/similar/", examples.similar, name="example-similar"),
    path("examples/<int:example_id>/review/", review.review_decide, name="review-decide"),
    path("examples/<int:example_id>/review/undo/", review.review_undo, name="review-undo"),
    path("examples/<int:example_id>/flag/", flags.flag_search, name="flag-search"),
    path("examples/<int:example_id>/flag/compare/", flags.flag_compare, name="flag-compare"),
    path("flags/<int:flag_id>/", flags.flag_detail, name="flag"),
    path("imports/<int:job_id>/", imports.import_detail, name="import-detail"),
    path("projects/<int:project_id>/exports/", exports.export_start, name="export-start"),
    path("versions/<int:version_id>/exports/", exports.version_export_start, name="version-export-start"),
    path("exports/<int:job_id>/", exports.export_detail, name="export-detail"),
    path("projects/<int:project_id>/versions/", versions.version_list, name="versions"),
    path("projects/<int:project_id>/versions/new/", versions.version_new, name="version-new"),
    path("versions/<int:version_id>/", versions.version_detail, name="version"),
    path("projects/<int:project_id>/training/", training.run_list, name="training-runs"),
    path("training/<int:run_id>/", training.run_detail, name="training-run"),
    path("training/<int:run_id>/cancel/", training.run_cancel_view, name="training-run-cancel"),
    path("training/<int:run_id>/merge/", training.run_merge_view, name="training-run-merge"),
    path("base-models/", training.base_model_list, name="base-models"),
    path("versions/<int:version_id>/evaluation/", evaluation.leaderboard, name="leaderboard"),
    path("comparisons/<int:comparison_id>/", evaluation.comparison_detail, name="comparison"),
    path(
        "comparisons/<int:comparison_id>/feedback/",
        evaluation.comparison_feedback,
        name="comparison-feedback",
    ),
    path("projects/<int:project_id>/deployments/", monitoring.deployment_list, name="deployments"),
    path("deployments/<int:deployment_id>/", monitoring.deployment_detail, name="deployment"),
    path(
        "deployments/<int:deployment_id>/report/", monitoring.deployment_report_now, name="deployment-report"
    ),
    path(
        "drift-reports/<int:report_id>/to-annotation/",
        monitoring.report_to_annotation,
        name="report-to-annotation",
    ),
    path("projects/<int:project_id>/suggestions/", suggestions.suggestion_runs, name="suggestion_runs"),
    path(
        "suggestion-runs/<int:suggestion_run_id>/", suggestions.suggestion_run_detail, name="suggestion_run"
    ),
    path(
        "suggestion-runs/<int:suggestion_run_id>/cancel/",
        suggestions.suggestion_run_cancel_view,
        name="suggestion_run_cancel",
    ),
    path("favicon.ico", assets.favicon, name="favicon"),
    path("healthz", health.healthz, name="health"),
    path("readyz", health.readyz, name="ready"),
    path("login/", login.login_view, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Before the admin's own URLs, so its sign-in form counts against the same rate.
    path("admin/login/", login.attempts_limited(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
