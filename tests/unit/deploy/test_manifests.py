"""conf/k8s, conf/Dockerfile and the config they carry agree with each other and with plano.

Nothing here talks to a cluster: the manifests are parsed and cross-checked (names, labels,
selectors, ports, mounted paths, env), and the plano config inside the ConfigMap goes through
plano's own config parser.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[3]
K8S = REPO_ROOT / "conf" / "k8s"
DOCKERFILE = REPO_ROOT / "conf" / "Dockerfile"
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a manifest file."""
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    """Every Kubernetes object under conf/k8s (the Kustomization included)."""
    found = [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_docs(path)]
    assert found, f"no manifests in {K8S}"
    return found


def objects(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [doc for doc in objects(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def containers(deployment: Doc) -> list[Doc]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def container_ports(deployment: Doc) -> dict[str | int, int]:
    """Every container port of a Deployment, by name and by number."""
    ports: dict[str | int, int] = {}
    for container in containers(deployment):
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def env_of(container: Doc) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def config_text(docs: list[Doc]) -> str:
    return str(one(docs, "ConfigMap", "plano-config")["data"]["plano.yaml"])


def plano_config(docs: list[Doc]) -> Doc:
    loaded = YAML(typ="safe").load(StringIO(config_text(docs)))
    assert isinstance(loaded, dict)
    return loaded


def secret_env() -> dict[str, str]:
    (secret,) = load_docs(K8S / "secret.example.yaml")
    return {str(k): str(v) for k, v in secret["stringData"].items()}


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) of conf/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            yield instruction.upper(), rest.strip()


def dockerfile(instruction: str) -> list[str]:
    return [rest for name, rest in dockerfile_instructions() if name == instruction]


# --- every file ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_every_manifest_parses_into_named_objects(path: Path) -> None:
    documents = load_docs(path)
    assert documents
    for doc in documents:
        assert {"apiVersion", "kind"} <= doc.keys()
        if doc["kind"] != "Kustomization":
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "plano"


def test_kustomization_applies_every_manifest_but_the_secret_example(docs: list[Doc]) -> None:
    (kustomization,) = objects(docs, "Kustomization")
    expected = {p.name for p in K8S.glob("*.yaml")} - NOT_APPLIED
    assert sorted(kustomization["resources"]) == sorted(expected)


def test_object_names_are_unique_per_kind(docs: list[Doc]) -> None:
    keys = [(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] != "Kustomization"]
    assert len(keys) == len(set(keys))


# --- Deployments and Services --------------------------------------------------------------


def test_each_deployment_selects_its_own_pod_template(docs: list[Doc]) -> None:
    for deployment in objects(docs, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment["metadata"]["name"]
    selectors = [
        tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
        for d in objects(docs, "Deployment")
    ]
    assert len(selectors) == len(set(selectors)), "two Deployments would share pods"


def selected_deployments(docs: list[Doc], service: Doc) -> list[Doc]:
    selector: Mapping[str, str] = service["spec"]["selector"]
    return [
        d
        for d in objects(docs, "Deployment")
        if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_each_service_selects_exactly_one_deployment_and_targets_its_ports(
    docs: list[Doc],
) -> None:
    services = objects(docs, "Service")
    assert {s["metadata"]["name"] for s in services} == {
        "plano",
        "plano-redis",
        "plano-orchestrator",
    }
    for service in services:
        (deployment,) = selected_deployments(docs, service)
        ports = container_ports(deployment)
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports, f"{service['metadata']['name']}: no container port {target}"


def test_probes_and_mounts_refer_to_what_the_pod_declares(docs: list[Doc]) -> None:
    for deployment in objects(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"] for v in pod.get("volumes", [])}
        ports = container_ports(deployment)
        for container in pod["containers"] + pod.get("initContainers", []):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = container.get(probe_name, {})
                for action in ("httpGet", "tcpSocket"):
                    if action in probe:
                        assert probe[action]["port"] in ports
        for container in pod["containers"]:
            assert "readinessProbe" in container and "livenessProbe" in container
            assert {"requests", "limits"} <= container["resources"].keys()


# --- the gateway ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(docs: list[Doc]) -> Doc:
    return one(docs, "Deployment", "plano")


def gateway_container(gateway: Doc) -> Doc:
    (container,) = containers(gateway)
    return container


def test_gateway_mounts_the_configmap_key_where_plano_reads_its_config(
    docs: list[Doc], gateway: Doc
) -> None:
    container = gateway_container(gateway)
    pod = gateway["spec"]["template"]["spec"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"].endswith(".yaml")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = one(docs, "ConfigMap", volume["configMap"]["name"])
    # subPath mounts one key as a file; without it the path would become a directory.
    assert mount["subPath"] in configmap["data"]
    assert mount["mountPath"] == env_of(container)["PLANO_CONFIG"] == "/app/conf/plano.yaml"
    (docker_env,) = [e for e in dockerfile("ENV") if "PLANO_CONFIG=" in e]
    assert "PLANO_CONFIG=/app/conf/plano.yaml" in docker_env
    assert dockerfile("WORKDIR") == ["/app"]


def test_gateway_port_is_the_config_listener_port_everywhere(docs: list[Doc], gateway: Doc) -> None:
    config = plano_config(docs)
    (listener,) = [item for item in config["listeners"] if item["type"] == "model"]
    port = listener["port"]
    assert port == 12000
    assert container_ports(gateway)["http"] == port
    annotations = gateway["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert one(docs, "Service", "plano")["spec"]["ports"][0]["port"] == port
    assert dockerfile("EXPOSE") == [str(port)]
    assert listener["address"] == "0.0.0.0"  # reachable from the Service


def test_gateway_runs_the_image_command_with_probes_and_secret(
    docs: list[Doc], gateway: Doc
) -> None:
    container = gateway_container(gateway)
    (cmd,) = dockerfile("CMD")
    assert container["command"] == ["gunicorn", "-c", "conf/gunicorn.conf.py", "wsgi:app"]
    assert shlex.split(cmd.strip("[]").replace(",", " ")) == container["command"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (env_from,) = container["envFrom"]
    assert env_from["secretRef"]["name"] == "plano-secrets"
    (secret,) = load_docs(K8S / "secret.example.yaml")
    assert secret["metadata"]["name"] == "plano-secrets"


def test_every_variable_the_config_references_comes_from_the_secret_or_env(
    docs: list[Doc], gateway: Doc
) -> None:
    referenced = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", config_text(docs)))
    assert referenced == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
    provided = set(secret_env()) | set(env_of(gateway_container(gateway)))
    assert referenced <= provided


def test_gateway_shuts_down_gracefully_within_the_grace_period(gateway: Doc) -> None:
    pod = gateway["spec"]["template"]["spec"]
    container = gateway_container(gateway)
    graceful_s = int(env_of(container)["PLANO_GRACEFUL_TIMEOUT"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > graceful_s + int(pre_stop[1])


def test_gateway_root_filesystem_is_read_only_but_tmp(gateway: Doc) -> None:
    container = gateway_container(gateway)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    # prometheus_client's multiprocess dir lives under the temp dir (plano.observability.multiproc).
    assert writable == {"/tmp"}
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(dockerfile("ENV"))


def test_gateway_runs_as_the_images_non_root_user(gateway: Doc) -> None:
    (user,) = dockerfile("USER")
    assert user not in {"0", "root"}
    security = gateway["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert str(security["runAsUser"]) == user
    assert dockerfile("FROM") == ["python:3.11-slim"]
    assert any("pip install ." in run for run in dockerfile("RUN"))


def test_the_image_carries_the_embedded_router_model_where_plano_looks() -> None:
    # conf/plano.yaml, the image's default config, routes with the embedded router: without the
    # model in the image the container would not start (the server names the missing files).
    assert "llm_routing_model: embedded" in (REPO_ROOT / "conf" / "plano.yaml").read_text()
    env = dict(item.split("=", 1) for line in dockerfile("ENV") for item in line.split())
    model_dir = env["PLANO_ROUTER_MODEL_DIR"]
    assert 'env.get("PLANO_ROUTER_MODEL_DIR")' in (REPO_ROOT / "plano/cli/boot.py").read_text()
    installs = [run for run in dockerfile("RUN") if "plano install-router-model" in run]
    assert installs == ['plano install-router-model --dir "$PLANO_ROUTER_MODEL_DIR"']
    assert model_dir.startswith("/app/")  # readable by the image's user (chmod a+rX /app)
    runs = dockerfile("RUN")
    assert runs.index(installs[0]) > next(i for i, r in enumerate(runs) if "pip install ." in r)


def test_hpa_scales_the_gateway_on_cpu(docs: list[Doc], gateway: Doc) -> None:
    (hpa,) = objects(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        gateway["apiVersion"],
        "Deployment",
        gateway["metadata"]["name"],
    )
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    # HPA CPU utilisation is relative to the request: there must be one.
    assert "cpu" in gateway_container(gateway)["resources"]["requests"]


# --- Redis and the router model -----------------------------------------------------------


def service_address(docs: list[Doc], name: str) -> tuple[str, int]:
    service = one(docs, "Service", name)
    return name, int(service["spec"]["ports"][0]["port"])


def test_session_cache_points_at_the_redis_service(docs: list[Doc]) -> None:
    cache = plano_config(docs)["routing"]["session_cache"]
    assert cache["type"] == "redis"
    url = urlsplit(cache["url"])
    assert url.scheme == "redis"
    assert (url.hostname, url.port) == service_address(docs, "plano-redis")
    redis = one(docs, "Deployment", "plano-redis")
    assert container_ports(redis)["redis"] == url.port


def test_router_model_is_served_by_vllm_under_the_configured_name(docs: list[Doc]) -> None:
    config = plano_config(docs)
    routing_model = config["overrides"]["llm_routing_model"]
    assert routing_model == "plano/Plano-Orchestrator"
    (provider,) = [p for p in config["model_providers"] if p["model"] == routing_model]
    url = urlsplit(provider["base_url"])
    assert (url.hostname, url.port) == service_address(docs, "plano-orchestrator")

    deployment = one(docs, "Deployment", "plano-orchestrator")
    (vllm,) = containers(deployment)
    args = [str(a) for a in vllm["args"]]
    assert vllm["command"] == ["vllm"] and args[0] == "serve"
    assert args[args.index("--served-model-name") + 1] == routing_model.split("/", 1)[1]
    assert int(args[args.index("--port") + 1]) == url.port == container_ports(deployment)["http"]
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    assert vllm["livenessProbe"]["httpGet"]["path"] == "/health"
    assert vllm["livenessProbe"]["initialDelaySeconds"] == 180
    for kind in ("requests", "limits"):
        assert vllm["resources"][kind]["nvidia.com/gpu"] == 1


def test_router_pod_tolerates_gpu_nodes_and_downloads_the_model_first(docs: list[Doc]) -> None:
    deployment = one(docs, "Deployment", "plano-orchestrator")
    pod = deployment["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (init,) = pod["initContainers"]
    (vllm,) = pod["containers"]
    (init_mount,) = init["volumeMounts"]
    (vllm_mount,) = vllm["volumeMounts"]
    assert init_mount == vllm_mount
    script = " ".join(init["args"])
    local_dir = re.search(r"local_dir='([^']+)'", script)
    assert local_dir is not None
    assert local_dir[1].startswith(init_mount["mountPath"] + "/")
    model_path = str(vllm["args"][1])
    assert model_path.startswith(local_dir[1] + "/")
    assert Path(model_path).name in script  # the one weights file the init container fetches


# --- the config itself ---------------------------------------------------------------------


def test_the_configmap_config_is_a_valid_plano_config(docs: list[Doc]) -> None:
    from plano.config.loader import parse_settings

    settings = parse_settings(config_text(docs), secret_env())
    assert settings.listener.port == 12000
    assert settings.listener.address == "0.0.0.0"
    assert settings.routing.session_cache.url == "redis://plano-redis:6379/0"
    assert settings.router is not None
    assert settings.router.model_id == "Plano-Orchestrator"
    assert settings.router.url == "http://plano-orchestrator:10000/v1/chat/completions"
    assert [route.name for route in settings.routes] == ["complex_reasoning", "code_generation"]
    default = settings.default_provider
    assert default is not None and default.name == "openai/gpt-4o-mini"
    assert settings.warnings == ()


def test_the_configmap_config_passes_plano_validate(docs: list[Doc], tmp_path: Path) -> None:
    """The real CLI, as an operator runs it before `kubectl apply`."""
    config = tmp_path / "plano.yaml"
    config.write_text(config_text(docs), encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "plano"), "validate", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **secret_env()},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "listener: 0.0.0.0:12000" in out
    assert "session cache: redis redis://plano-redis:6379/0" in out
    assert (
        "router: Plano-Orchestrator at http://plano-orchestrator:10000/v1/chat/completions" in out
    )
    # The router model's provider entry is never a client-facing model.
    providers = next(line for line in out.splitlines() if line.startswith("providers ("))
    assert "Plano-Orchestrator" not in providers


# --- the image ----------------------------------------------------------------------------


def test_every_path_the_dockerfile_copies_exists_and_the_build_context_is_trimmed() -> None:
    copies = [shlex.split(args) for args in dockerfile("COPY")]
    assert copies
    for *sources, _dest in copies:
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
    copied = {source.rstrip("/") for *sources, _ in copies for source in sources}
    # What gunicorn needs in the working directory: wsgi.py and conf/gunicorn.conf.py.
    assert {"wsgi.py", "conf", "plano", "setup.cfg"} <= copied
    # BuildKit reads <Dockerfile>.dockerignore: keep the virtualenv and .git out of the context.
    ignored = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored)
