"""The deployment files: the compose file and the Kubernetes manifests parse and hold what
production needs (`docker compose config` checks the compose file too where the client has
the compose plugin)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "gpu-worker", "beat"}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()))


def manifests() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def test_compose_has_every_part_with_its_command() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["web"]["command"][0] == "gunicorn"
    assert "-Q" in services["worker"]["command"] and "celery,quality" in services["worker"]["command"]
    gpu_command = services["gpu-worker"]["command"]
    assert (
        gpu_command[gpu_command.index("-Q") + 1] == "gpu" and gpu_command[gpu_command.index("-c") + 1] == "1"
    )
    gpu = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name in ("web", "worker", "gpu-worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"} <= set(environment)
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_config_accepts_the_file() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"DJANGO_SECRET_KEY": "check-only", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_kubernetes_manifests_are_complete() -> None:
    by_name = {(doc["kind"], doc["metadata"]["name"]): doc for doc in manifests()}
    assert set(by_name) == {
        ("ConfigMap", "finch-config"),
        ("Secret", "finch-secrets"),
        ("Job", "finch-migrate"),
        ("Deployment", "finch-web"),
        ("Service", "finch-web"),
        ("Deployment", "finch-worker"),
        ("Deployment", "finch-gpu-worker"),
        ("Deployment", "finch-beat"),
    }
    for (kind, name), doc in by_name.items():
        assert doc["apiVersion"] in {"v1", "apps/v1", "batch/v1"}
        if kind == "Deployment":
            spec = doc["spec"]
            assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
            container = spec["template"]["spec"]["containers"][0]
            sources = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
            assert sources == ["finch-config", "finch-secrets"], name
            assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    gpu = by_name[("Deployment", "finch-gpu-worker")]["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["nodeSelector"]
    assert "gpu" in gpu["containers"][0]["command"]
    web = by_name[("Deployment", "finch-web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert by_name[("Deployment", "finch-beat")]["spec"]["replicas"] == 1
    config = by_name[("ConfigMap", "finch-config")]["data"]
    assert config["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert "DJANGO_SECRET_KEY" in by_name[("Secret", "finch-secrets")]["stringData"]


def test_dockerfiles_run_as_a_user_and_collect_static_files() -> None:
    web = (DEPLOY / "Dockerfile").read_text()
    gpu = (DEPLOY / "Dockerfile.gpu").read_text()
    assert "USER finch" in web and "USER finch" in gpu
    assert "collectstatic" in web and "gunicorn" in web
    assert '"-Q", "gpu", "-c", "1"' in gpu
    assert next(line for line in gpu.splitlines() if line.startswith("FROM")).count("cuda") == 1


def test_the_web_tier_runs_threaded_gunicorn_workers_fit_for_long_downloads() -> None:
    """Issue 20: sync workers with a 120 s timeout killed a worker mid-download, leaving a file cut
    at a whole line. Threaded workers keep answering the arbiter while a thread sends a file."""
    import runpy

    conf = runpy.run_path(str(DEPLOY.parent / "config" / "gunicorn_conf.py"))
    assert conf["worker_class"] == "gthread" and conf["threads"] > 1
    assert conf["sendfile"] is True and conf["graceful_timeout"] >= conf["timeout"] >= 60
    command = ["gunicorn", "-c", "config/gunicorn_conf.py", "config.wsgi"]
    assert compose()["services"]["web"]["command"] == command
    assert f"CMD {json_list(command)}" in (DEPLOY / "Dockerfile").read_text()
    web = next(
        doc for doc in manifests() if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "finch-web"
    )
    pod = web["spec"]["template"]["spec"]
    assert "command" not in pod["containers"][0]  # the image's CMD, above
    assert pod["terminationGracePeriodSeconds"] > conf["graceful_timeout"]


def json_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"
