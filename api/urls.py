from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api.views.agreement import ProjectAgreementView
from api.views.audit import ProjectAuditView
from api.views.auth import TokenView
from api.views.base_models import BaseModelDetailView, BaseModelsView
from api.views.dedup import (
    ClusterDissolveView,
    ClusterKeepView,
    ContradictionJobDetailView,
    DedupJobClustersView,
    DedupJobDetailView,
    ProjectContradictionJobsView,
    ProjectDedupJobsView,
)
from api.views.evaluation import (
    ComparisonDetailView,
    ComparisonsView,
    EvalRunCancelView,
    EvalRunDetailView,
    EvalRunPredictionsView,
    EvalRunsView,
)
from api.views.examples import (
    ExampleDetailView,
    ExampleHistoryView,
    ExampleReviewsView,
    ProjectExamplesView,
)
from api.views.exports import (
    ExportJobDetailView,
    ExportJobDownloadView,
    ProjectExportsView,
    VersionExportsView,
)
from api.views.flags import FlagDetailView, FlagResolveView, ProjectFlagsView
from api.views.imports import ImportJobDetailView, ImportJobErrorsView, ProjectExportView, ProjectImportsView
from api.views.invitations import InvitationRevokeView, ProjectInvitationsView
from api.views.labeling import (
    LabelingAnnotationsView,
    LabelingItemDetailView,
    LabelingNextView,
    LabelingRequeueView,
    LabelingSetAsideView,
    LabelingSkipView,
    ProjectLabelingItemsView,
)
from api.views.monitoring import (
    DeploymentDetailView,
    DeploymentDriftView,
    DeploymentReportsView,
    DeploymentSamplesView,
    DeploymentsView,
    DriftReportJobDetailView,
    ReportToAnnotationView,
)
from api.views.projects import (
    ProjectDetailView,
    ProjectListView,
    ProjectMemberDetailView,
    ProjectMembersView,
    ProjectValidationJobsView,
    ValidationJobDetailView,
)
from api.views.suggestions import (
    ProjectSuggestionRunsView,
    SuggestionRunCancelView,
    SuggestionRunDetailView,
    SuggestionRunSuggestionsView,
)
from api.views.training import (
    TrainingRunAdapterView,
    TrainingRunCancelView,
    TrainingRunDetailView,
    TrainingRunMergedFileView,
    TrainingRunMergeView,
    TrainingRunsView,
)
from api.views.versions import (
    FreezePreviewView,
    ProjectVersionsView,
    VersionCardView,
    VersionDetailView,
    VersionDiffView,
    VersionExportView,
)

urlpatterns = [
    path("deployments/", DeploymentsView.as_view(), name="api-deployments"),
    path("deployments/<int:deployment_id>/", DeploymentDetailView.as_view(), name="api-deployment"),
    path(
        "deployments/<int:deployment_id>/samples/",
        DeploymentSamplesView.as_view(),
        name="api-deployment-samples",
    ),
    path(
        "deployments/<int:deployment_id>/drift/", DeploymentDriftView.as_view(), name="api-deployment-drift"
    ),
    path(
        "deployments/<int:deployment_id>/reports/",
        DeploymentReportsView.as_view(),
        name="api-deployment-reports",
    ),
    path("drift-jobs/<int:job_id>/", DriftReportJobDetailView.as_view(), name="api-drift-job"),
    path(
        "drift-reports/<int:report_id>/to-annotation/",
        ReportToAnnotationView.as_view(),
        name="api-report-to-annotation",
    ),
    path("eval-runs/", EvalRunsView.as_view(), name="api-eval-runs"),
    path("eval-runs/<int:run_id>/", EvalRunDetailView.as_view(), name="api-eval-run"),
    path("eval-runs/<int:run_id>/cancel/", EvalRunCancelView.as_view(), name="api-eval-run-cancel"),
    path(
        "eval-runs/<int:run_id>/predictions/", EvalRunPredictionsView.as_view(), name="api-eval-predictions"
    ),
    path("comparisons/", ComparisonsView.as_view(), name="api-comparisons"),
    path("comparisons/<int:comparison_id>/", ComparisonDetailView.as_view(), name="api-comparison"),
    path(
        "projects/<int:project_id>/suggestion-runs/",
        ProjectSuggestionRunsView.as_view(),
        name="api-suggestion-runs",
    ),
    path("suggestion-runs/<int:run_id>/", SuggestionRunDetailView.as_view(), name="api-suggestion-run"),
    path(
        "suggestion-runs/<int:run_id>/cancel/",
        SuggestionRunCancelView.as_view(),
        name="api-suggestion-run-cancel",
    ),
    path(
        "suggestion-runs/<int:run_id>/suggestions/",
        SuggestionRunSuggestionsView.as_view(),
        name="api-suggestions",
    ),
    path("base-models/", BaseModelsView.as_view(), name="api-base-models"),
    path("base-models/<int:base_model_id>/", BaseModelDetailView.as_view(), name="api-base-model"),
    path("training-runs/", TrainingRunsView.as_view(), name="api-training-runs"),
    path("training-runs/<int:run_id>/", TrainingRunDetailView.as_view(), name="api-training-run"),
    path(
        "training-runs/<int:run_id>/cancel/", TrainingRunCancelView.as_view(), name="api-training-run-cancel"
    ),
    path(
        "training-runs/<int:run_id>/adapter/",
        TrainingRunAdapterView.as_view(),
        name="api-training-run-adapter",
    ),
    path("training-runs/<int:run_id>/merge/", TrainingRunMergeView.as_view(), name="api-training-run-merge"),
    path(
        "training-runs/<int:run_id>/merged/<str:name>/",
        TrainingRunMergedFileView.as_view(),
        name="api-training-run-merged-file",
    ),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("projects/", ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", ProjectMembersView.as_view(), name="api-members"),
    path("projects/<int:project_id>/invitations/", ProjectInvitationsView.as_view(), name="api-invitations"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        InvitationRevokeView.as_view(),
        name="api-invitation-revoke",
    ),
    path("projects/<int:project_id>/audit/", ProjectAuditView.as_view(), name="api-audit"),
    path("projects/<int:project_id>/agreement/", ProjectAgreementView.as_view(), name="api-agreement"),
    path(
        "projects/<int:project_id>/members/<str:username>/",
        ProjectMemberDetailView.as_view(),
        name="api-member",
    ),
    path("projects/<int:project_id>/examples/", ProjectExamplesView.as_view(), name="api-examples"),
    path("projects/<int:project_id>/examples/export/", ProjectExportView.as_view(), name="api-export"),
    path("projects/<int:project_id>/exports/", ProjectExportsView.as_view(), name="api-exports"),
    path("exports/<int:job_id>/", ExportJobDetailView.as_view(), name="api-export-job"),
    path("exports/<int:job_id>/download/", ExportJobDownloadView.as_view(), name="api-export-download"),
    path("projects/<int:project_id>/imports/", ProjectImportsView.as_view(), name="api-imports"),
    path("imports/<int:job_id>/", ImportJobDetailView.as_view(), name="api-import"),
    path("imports/<int:job_id>/errors.csv", ImportJobErrorsView.as_view(), name="api-import-errors"),
    path("projects/<int:project_id>/flags/", ProjectFlagsView.as_view(), name="api-flags"),
    path(
        "projects/<int:project_id>/validation-jobs/",
        ProjectValidationJobsView.as_view(),
        name="api-validation-jobs",
    ),
    path(
        "validation-jobs/<int:job_id>/",
        ValidationJobDetailView.as_view(),
        name="api-validation-job",
    ),
    path("projects/<int:project_id>/dedup-jobs/", ProjectDedupJobsView.as_view(), name="api-dedup-jobs"),
    path("dedup-jobs/<int:job_id>/", DedupJobDetailView.as_view(), name="api-dedup-job"),
    path(
        "projects/<int:project_id>/contradiction-jobs/",
        ProjectContradictionJobsView.as_view(),
        name="api-contradiction-jobs",
    ),
    path(
        "contradiction-jobs/<int:job_id>/", ContradictionJobDetailView.as_view(), name="api-contradiction-job"
    ),
    path("dedup-jobs/<int:job_id>/clusters/", DedupJobClustersView.as_view(), name="api-dedup-clusters"),
    path("clusters/<int:cluster_id>/keep/", ClusterKeepView.as_view(), name="api-cluster-keep"),
    path("clusters/<int:cluster_id>/dissolve/", ClusterDissolveView.as_view(), name="api-cluster-dissolve"),
    path("examples/<int:example_id>/", ExampleDetailView.as_view(), name="api-example"),
    path(
        "examples/<int:example_id>/history/",
        ExampleHistoryView.as_view(),
        name="api-example-history",
    ),
    path(
        "examples/<int:example_id>/reviews/",
        ExampleReviewsView.as_view(),
        name="api-example-reviews",
    ),
    path(
        "projects/<int:project_id>/labeling/items/",
        ProjectLabelingItemsView.as_view(),
        name="api-labeling-items",
    ),
    path("projects/<int:project_id>/labeling/next/", LabelingNextView.as_view(), name="api-labeling-next"),
    path(
        "projects/<int:project_id>/labeling/set-aside/",
        LabelingSetAsideView.as_view(),
        name="api-labeling-set-aside",
    ),
    path(
        "projects/<int:project_id>/labeling/requeue/",
        LabelingRequeueView.as_view(),
        name="api-labeling-requeue",
    ),
    path("labeling/items/<int:item_id>/", LabelingItemDetailView.as_view(), name="api-labeling-item"),
    path(
        "labeling/items/<int:item_id>/annotations/",
        LabelingAnnotationsView.as_view(),
        name="api-labeling-annotations",
    ),
    path("labeling/items/<int:item_id>/skip/", LabelingSkipView.as_view(), name="api-labeling-skip"),
    path("flags/<int:flag_id>/", FlagDetailView.as_view(), name="api-flag"),
    path("flags/<int:flag_id>/resolve/", FlagResolveView.as_view(), name="api-flag-resolve"),
    path("projects/<int:project_id>/versions/", ProjectVersionsView.as_view(), name="api-versions"),
    path(
        "projects/<int:project_id>/versions/preview/", FreezePreviewView.as_view(), name="api-freeze-preview"
    ),
    path("versions/<int:version_id>/", VersionDetailView.as_view(), name="api-version"),
    path("versions/<int:version_id>/export/", VersionExportView.as_view(), name="api-version-export"),
    path("versions/<int:version_id>/exports/", VersionExportsView.as_view(), name="api-version-exports"),
    path("versions/<int:version_id>/card/", VersionCardView.as_view(), name="api-version-card"),
    path(
        "versions/<int:version_id>/diff/<int:other_id>/", VersionDiffView.as_view(), name="api-version-diff"
    ),
]
