"""deploy/k8s: every manifest valid against the Kubernetes schemas (bundled by
kubernetes-validate, strict: unknown fields fail; no network), the probes on paths the app
serves, the environment made of names the settings read, and a production configuration
the app accepts."""

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api_client import serving
from thidua.config import Settings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
VERSION = kubernetes_validate.latest_version()


def manifests() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests() if m["kind"] == kind]


def pod_specs() -> Iterator[dict[str, Any]]:
    for workload in of_kind("Deployment") + of_kind("Job"):
        yield workload["spec"]["template"]["spec"]


def containers() -> Iterator[dict[str, Any]]:
    for spec in pod_specs():
        yield from spec["containers"]


def test_the_folder_holds_what_a_deployment_needs() -> None:
    kinds = sorted(m["kind"] for m in manifests())
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "PodDisruptionBudget",
        "Service",
    ]


@pytest.mark.parametrize(
    "manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
def test_a_manifest_is_valid_against_the_schemas(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, VERSION, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    """What the check above is worth: a typo in a probe fails it."""
    (deployment,) = copy.deepcopy(of_kind("Deployment"))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_every_pod_runs_as_a_user_with_nothing_to_escalate() -> None:
    for spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
    for container in containers():
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])


def test_the_selectors_find_the_deployment() -> None:
    (deployment,) = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for owner in of_kind("Service") + of_kind("PodDisruptionBudget"):
        selector = owner["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), owner["kind"]
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # the PodDisruptionBudget keeps one of them


async def test_the_probes_ask_paths_the_app_serves(dsn: str) -> None:
    (deployment,) = of_kind("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    serve_port = container["args"][container["args"].index("--port") + 1]
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("readiness", "liveness")}
    assert probes["readiness"]["path"] == "/readyz"
    assert probes["liveness"]["path"] == "/healthz"
    async with serving(dsn) as api:
        for probe in probes.values():
            assert ports[probe["port"]] == int(serve_port)
            answer = await api.http.get(probe["path"])
            assert answer.status_code == 200, (probe, answer.text)


class Recorded(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def environment(container: dict[str, Any]) -> dict[str, str]:
    """What the container's environment holds (a secret's value stood in by a sample)."""
    (config,) = of_kind("ConfigMap")
    env = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == config["metadata"]["name"]
        env.update(config["data"])
    samples = {
        "app-database-url": "postgresql://thidua_web:pw@primary:5432/thidua",
        "app-replica-url": "postgresql://thidua_web:pw@replica:5432/thidua",
        "owner-database-url": "postgresql://thidua_owner:pw@primary:5432/thidua",
    }
    for variable in container["env"]:
        if "valueFrom" in variable:
            ref = variable["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "thidua-secrets"
            env[variable["name"]] = samples[ref["key"]]
        else:
            env[variable["name"]] = variable["value"]
    return env


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_the_environment_is_a_production_configuration_the_app_accepts(kind: str) -> None:
    (workload,) = of_kind(kind)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    env = Recorded(environment(container))
    settings = Settings.from_env(env)
    assert settings.production
    assert settings.database_url is not None
    assert re.match(r"postgresql://thidua_(web|owner):", settings.database_url)
    unknown = set(env) - env.asked
    assert not unknown, f"names the settings never read: {sorted(unknown)}"
    # The log key is a file from the Secret's volume.
    assert settings.log.key_file is not None
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(settings.log.key_file.parent) in mounts


def test_the_app_connects_as_its_own_role_and_the_job_as_the_owner() -> None:
    (deployment,) = of_kind("Deployment")
    (job,) = of_kind("Job")
    keys = {}
    for workload in (deployment, job):
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        (url,) = [v for v in container["env"] if v["name"] == "DATABASE_URL"]
        keys[workload["kind"]] = url["valueFrom"]["secretKeyRef"]["key"]
    assert keys == {"Deployment": "app-database-url", "Job": "owner-database-url"}
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["thidua", "db", "migrate"]
