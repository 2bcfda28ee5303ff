from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from curation import views as curation_views

urlpatterns = [
    path("", curation_views.home, name="home"),
    path("projects/<int:project_id>/", curation_views.project_dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/import/", curation_views.import_page, name="import"),
    path("imports/<int:job_id>/", curation_views.import_detail, name="import-detail"),
    path("healthz", curation_views.health, name="health"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
