"""Every list endpoint and page, found from the routes themselves (api/urls.py through the OpenAPI
schema, config/urls.py through the URL resolver), so that a new one is covered by the hostile-input
tests without anyone listing it; and a project with one of each object, to fill their paths."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from django.contrib.auth.models import User
from django.urls import URLPattern
from drf_spectacular.generators import SchemaGenerator

from config import urls as config_urls
from curation.models import Project
from tests.api.test_permissions import Scene

# Pages that are not lists of the project's data or that take no query: the admin, the API (its
# own tests), sign-in, the account pages (an invitation, a password change or reset, which read no
# query; tests/curation/test_ui_people.py), the probes and the favicon.
NOT_PAGES = ("api/", "admin/", "login/", "logout/", "healthz", "readyz", "invite/", "account/", "favicon.ico")


def api_get_operations() -> dict[str, dict[str, str]]:
    """Every GET operation of the API schema with its query parameters (name -> schema type)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {}
    for path, item in schema["paths"].items():
        if "get" in item:
            parameters = [p for p in item["get"].get("parameters", []) if p["in"] == "query"]
            operations[path] = {p["name"]: p.get("schema", {}).get("type", "string") for p in parameters}
    return operations


def api_lists() -> list[str]:
    """The API's lists: its GET operations documented as pages (with a `cursor`)."""
    return sorted(path for path, query in api_get_operations().items() if "cursor" in query)


def api_routes() -> list[str]:
    """Every route of api/urls.py, as a path template ("/api/projects/{project_id}/")."""
    from api import urls as api_urls

    return sorted(
        "/api/" + _template(str(p.pattern)) for p in api_urls.urlpatterns if isinstance(p, URLPattern)
    )


def page_routes() -> list[str]:
    """Every web page of config/urls.py, as a path template ("/projects/{project_id}/flags/")."""
    routes = []
    for pattern in config_urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or str(pattern.pattern).startswith(NOT_PAGES):
            continue  # the admin and the API are included URL confs (URLResolver)
        routes.append("/" + _template(str(pattern.pattern)))
    return sorted(routes)


def _template(route: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


class Objects:
    """One of each object a path names, in the team's project, made when first asked for."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.project: Project = scene.team.project

    def path(self, template: str) -> str:
        """The template with real ids: `job_id` and `run_id` by the path's first segment."""
        segments = template.strip("/").split("/")
        first = segments[1] if segments[0] == "api" else segments[0]
        return re.sub(r"\{(\w+)\}", lambda match: str(self.value(first, match.group(1))), template)

    def value(self, first: str, name: str) -> Any:
        if name in ("job_id", "run_id"):
            name = f"{first.rstrip('s').replace('-', '_')}_id"
        if not hasattr(type(self), name):  # a new kind of object in a path: make one here
            raise AssertionError(f"tests/api/routes.py: Objects has no `{name}` for /{first}/...")
        return getattr(self, name)

    @property
    def project_id(self) -> int:
        return self.project.pk

    @cached_property
    def example_id(self) -> int:
        return self.scene.example(self.project).pk

    @cached_property
    def flag_id(self) -> int:
        return self.scene.open_flag(self.project).pk

    @cached_property
    def cluster(self) -> Any:
        return self.scene.active_cluster(self.project)

    @property
    def cluster_id(self) -> int:
        return self.cluster.pk

    @property
    def dedup_job_id(self) -> int:
        return self.cluster.job_id

    @cached_property
    def contradiction_job_id(self) -> int:
        return self.scene.contradiction_job(self.project).pk

    @cached_property
    def import_id(self) -> int:
        return self.scene.import_job(self.project).pk

    @cached_property
    def export_id(self) -> int:
        return self.scene.export_job(self.project).pk

    @cached_property
    def validation_job_id(self) -> int:
        return self.scene.validation_job(self.project).pk

    @cached_property
    def version_id(self) -> int:
        return self.scene.frozen_version(self.project).pk

    @cached_property
    def other_id(self) -> int:
        return self.scene.frozen_version(self.project).pk

    @cached_property
    def base_model_id(self) -> int:  # /api/base-models/{base_model_id}/
        return self.scene.base_model().pk

    @cached_property
    def training_run_id(self) -> int:
        return self.scene.training_run(self.project, with_adapter=True).pk

    @property
    def training_id(self) -> int:  # the web page's path: /training/{run_id}/
        return self.training_run_id

    @property
    def name(self) -> str:  # /api/training-runs/{run_id}/merged/{name}/: a file of a merged model
        return "config.json"

    @cached_property
    def eval_run_id(self) -> int:
        return self.scene.eval_run(self.project).pk

    @cached_property
    def suggestion_run_id(
        self,
    ) -> int:  # /api/suggestion-runs/{run_id}/ and /suggestion-runs/{suggestion_run_id}/
        return self.scene.suggestion_run(self.project).pk

    @cached_property
    def comparison_id(self) -> int:
        return self.scene.comparison(self.project).pk

    @cached_property
    def deployment_id(self) -> int:
        return self.scene.deployment(self.project).pk

    @cached_property
    def report_id(self) -> int:
        return self.scene.drift_report(self.project).pk

    @cached_property
    def drift_job_id(self) -> int:
        return self.scene.drift_job(self.project).pk

    @cached_property
    def invitation_id(self) -> int:
        return self.scene.invitation(self.project).pk

    @cached_property
    def item_id(self) -> int:  # /api/labeling/items/{item_id}/
        return self.scene.labeling_item(self.project).pk

    @cached_property
    def username(self) -> str:
        user: User = self.scene.member(self.project)
        return user.username
