"""deploy/k8s: every manifest validates against the Kubernetes API schemas (kubernetes-validate,
strict), the kustomizations list what exists, probes point at the right paths and ports, every
container's command names code that exists, beat runs alone, secrets are placeholders only."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    API_PORTS,
    K8S,
    REPO,
    REQUIRED_ENV,
    SANDBOX_PORTS,
    SERVICES,
    WORKER_HEALTH_PORT,
    command_errors,
    k8s_documents,
    k8s_objects,
    listening_port,
    load_stack_module,
    normalized,
    parse_dockerfile,
)

# The oldest Kubernetes release these manifests target and the newest schema kubernetes-validate ships.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.utils.latest_version())

DOCS = k8s_documents()
WORKLOAD_KINDS = {"Deployment", "Job"}
WORKLOADS = [doc for _, doc in DOCS if doc["kind"] in WORKLOAD_KINDS]
DEPLOYMENTS = {doc["metadata"]["name"]: doc for doc in k8s_objects("Deployment")}
SERVICES_K8S = {doc["metadata"]["name"]: doc for doc in k8s_objects("Service")}
CONFIGMAPS = {doc["metadata"]["name"]: doc for doc in k8s_objects("ConfigMap")}
SECRET_EXAMPLE = yaml.safe_load((K8S / "secret.example.yaml").read_text())


def doc_id(path_doc) -> str:
    path, doc = path_doc
    return f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}"


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def all_containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def image_dockerfile(image: str):
    """lendsimple/<dir>:<tag> -> the parsed deploy/<dir>/Dockerfile."""
    match = re.fullmatch(r"lendsimple/([\w-]+):[\w.-]+", image)
    assert match, f"unexpected image {image!r}"
    return parse_dockerfile(REPO / "deploy" / match.group(1) / "Dockerfile")


def service_of(workload: dict) -> str:
    return workload["metadata"]["labels"]["lendsimple.io/service"]


def kustomization(directory) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def named_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    matches = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert matches, f"container {container['name']} has no port named {port!r}"
    return matches[0]


# --- schemas ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path_doc", DOCS, ids=[doc_id(d) for d in DOCS])
def test_manifest_validates_against_the_kubernetes_schema(path_doc):
    _, doc = path_doc
    for version in K8S_VERSIONS:
        # Raises ValidationError (invalid) or SchemaNotFoundError (unknown kind/apiVersion).
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_rejects_broken_manifests():
    broken = yaml.safe_load(yaml.safe_dump(DEPLOYMENTS["borrowers-api"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


# --- kustomize -------------------------------------------------------------------------------------

def test_kustomization_lists_every_manifest_except_the_secret_template():
    base = kustomization(K8S)
    assert base["namespace"] == "lendsimple"
    listed = base["resources"]
    assert all((K8S / r).is_file() for r in listed), listed
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk - {"secret.example.yaml"}
    namespaces = [doc for _, doc in DOCS if doc["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["lendsimple"]


def test_kustomization_images_are_the_images_the_manifests_run():
    base = kustomization(K8S)
    managed = {i["name"] for i in base["images"]}
    used = {c["image"].split(":")[0] for w in WORKLOADS for c in all_containers(w)}
    assert used == managed == {f"lendsimple/{directory}" for directory, _ in SERVICES.values()}


def test_every_kustomization_resource_exists():
    for kfile in K8S.rglob("kustomization.yaml"):
        for resource in kustomization(kfile.parent)["resources"]:
            target = (kfile.parent / resource).resolve()
            assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{kfile}: {resource}"
        listed = {(kfile.parent / r).resolve() for r in kustomization(kfile.parent)["resources"]}
        for manifest in kfile.parent.glob("*.yaml"):
            if manifest.name not in {"kustomization.yaml", "secret.example.yaml"}:
                assert manifest.resolve() in listed, f"{manifest} is not in {kfile}"


# --- workloads: commands, images, config -----------------------------------------------------------

CONTAINERS = [(w, c) for w in WORKLOADS for c in all_containers(w)]


@pytest.mark.parametrize("workload,container", CONTAINERS,
                         ids=[f"{w['metadata']['name']}/{c['name']}" for w, c in CONTAINERS])
def test_container_command_names_code_that_exists(workload, container):
    assert "command" not in container, "use args: command would replace the image's entrypoint (tini)"
    dockerfile = image_dockerfile(container["image"])
    argv = container.get("args") or dockerfile.json_form("CMD", dockerfile.last_stage)
    errors = command_errors(argv, dockerfile.service_dir, service_of(workload))
    assert not errors, "; ".join(errors)


@pytest.mark.parametrize("workload", WORKLOADS, ids=[w["metadata"]["name"] for w in WORKLOADS])
def test_workload_runs_its_services_image_with_its_config(workload):
    svc = service_of(workload)
    directory = SERVICES[svc][0]
    for container in all_containers(workload):
        assert container["image"].startswith(f"lendsimple/{directory}:")
        refs = container["envFrom"]
        config_maps = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
        secrets = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
        assert config_maps == ["lendsimple-common", f"{svc}-config"]
        assert secrets == [SECRET_EXAMPLE["metadata"]["name"]]
        assert all(name in CONFIGMAPS for name in config_maps)


@pytest.mark.parametrize("svc", sorted(SERVICES))
def test_config_and_secret_give_every_required_variable(svc):
    keys = set(CONFIGMAPS["lendsimple-common"]["data"]) | set(CONFIGMAPS[f"{svc}-config"]["data"])
    keys |= set(SECRET_EXAMPLE["stringData"])
    missing = [var for var in REQUIRED_ENV if var not in keys]
    assert not missing
    assert CONFIGMAPS[f"{svc}-config"]["data"]["LENDSIMPLE_DB_NAME"] == f"lendsimple_{svc}"
    overlap = set(CONFIGMAPS["lendsimple-common"]["data"]) & set(SECRET_EXAMPLE["stringData"])
    assert not overlap, f"both ConfigMap and Secret set {overlap}"


def test_secrets_are_not_in_configmaps():
    for name, cm in CONFIGMAPS.items():
        for key in cm["data"]:
            assert not re.search(r"PASSWORD|SECRET|PRIVATE_KEY|BROKER_URL", key), f"{name}.{key} belongs in the Secret"


def test_secret_template_holds_placeholders_only():
    assert SECRET_EXAMPLE["kind"] == "Secret"
    data = SECRET_EXAMPLE["stringData"]
    assert "data" not in SECRET_EXAMPLE
    assert {"LENDSIMPLE_DB_PASSWORD", "LENDSIMPLE_BROKER_URL", "LENDSIMPLE_JWT_SECRET", "DJANGO_SECRET_KEY"} <= set(data)
    for key, value in data.items():
        assert "CHANGE-ME" in value, f"{key} is not a placeholder"
        assert "dev" not in value.lower().replace("change-me", ""), f"{key} looks like a development default"


@pytest.mark.parametrize("workload", WORKLOADS, ids=[w["metadata"]["name"] for w in WORKLOADS])
def test_every_container_has_requests_limits_and_a_restricted_security_context(workload):
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    for container in all_containers(workload):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        if security.get("readOnlyRootFilesystem"):
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, "a read-only root needs a writable /tmp (metrics, beat schedule)"


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_deployment_selector_matches_its_pods(name):
    deployment = DEPLOYMENTS[name]
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", sorted(SERVICES_K8S))
def test_service_selects_pods_and_targets_a_container_port(name):
    service = SERVICES_K8S[name]
    backends = [d for d in DEPLOYMENTS.values()
                if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert len(backends) == 1, f"{name} selects {[b['metadata']['name'] for b in backends]}"
    container = pod_spec(backends[0])["containers"][0]
    for port in service["spec"]["ports"]:
        assert named_port(container, port["targetPort"]) == port["port"]


# --- processes, probes, beat -----------------------------------------------------------------------

def test_every_process_of_make_run_has_a_deployment_with_the_same_command():
    stack = load_stack_module().Stack()
    problems = []
    for proc in stack.definitions():
        deployment = DEPLOYMENTS.get(proc.name)
        if deployment is None:
            problems.append(f"{proc.name}: no Deployment")
            continue
        container = pod_spec(deployment)["containers"][0]
        if normalized(container["args"]) != normalized(proc.argv):
            problems.append(f"{proc.name}: runs {normalized(container['args'])}, make run {normalized(proc.argv)}")
        if listening_port(container["args"]) != listening_port(proc.argv):
            problems.append(f"{proc.name}: port {listening_port(container['args'])} != {listening_port(proc.argv)}")
        if service_of(deployment) != proc.service:
            problems.append(f"{proc.name}: labelled {service_of(deployment)}, runs in {proc.service}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("svc", sorted(SERVICES))
def test_one_migrate_job_per_service(svc):
    jobs = {doc["metadata"]["name"]: doc for doc in k8s_objects("Job")}
    job = jobs[f"{svc}-migrate"]
    script = pod_spec(job)["containers"][0]["args"][-1]
    assert re.search(r"python manage\.py migrate --noinput\b.*&&.*python manage\.py declare_topology", script)
    assert pod_spec(job)["restartPolicy"] in {"OnFailure", "Never"}


@pytest.mark.parametrize("name", sorted(n for n in DEPLOYMENTS if "sandbox" not in n))
def test_processes_wait_for_their_migrations(name):
    init = pod_spec(DEPLOYMENTS[name]).get("initContainers", [])
    assert any("migrate --check" in " ".join(c["args"]) for c in init)


def _probe_target(container: dict, probe: str) -> tuple[str, int]:
    get = container[probe]["httpGet"]
    return get["path"], named_port(container, get["port"])


@pytest.mark.parametrize("svc", sorted(API_PORTS))
def test_api_probes_readyz_and_healthz_on_the_port_it_binds(svc):
    container = pod_spec(DEPLOYMENTS[f"{svc}-api"])["containers"][0]
    port = API_PORTS[svc]
    assert listening_port(container["args"]) == port
    assert _probe_target(container, "readinessProbe") == ("/readyz", port)
    assert _probe_target(container, "livenessProbe") == ("/healthz", port)
    assert SERVICES_K8S[f"{svc}-api"]["spec"]["ports"][0]["port"] == port


def test_worker_probes_its_health_server():
    worker = DEPLOYMENTS["ledger-worker"]
    container = pod_spec(worker)["containers"][0]
    assert _probe_target(container, "readinessProbe") == ("/readyz", WORKER_HEALTH_PORT)
    assert _probe_target(container, "livenessProbe") == ("/healthz", WORKER_HEALTH_PORT)
    assert CONFIGMAPS["ledger-config"]["data"]["LEDGER_HEALTH_PORT"] == str(WORKER_HEALTH_PORT)


def test_beat_runs_alone():
    beat = DEPLOYMENTS["ledger-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    beats = [name for name, d in DEPLOYMENTS.items()
             if "beat" in pod_spec(d)["containers"][0].get("args", [])]
    assert beats == ["ledger-beat"]


@pytest.mark.parametrize("name", sorted(SANDBOX_PORTS))
def test_sandboxes_are_in_the_dev_overlay_only(name):
    assert (K8S / "dev" / "sandboxes.yaml").name in kustomization(K8S / "dev")["resources"]
    deployment = DEPLOYMENTS[name]
    container = pod_spec(deployment)["containers"][0]
    assert listening_port(container["args"]) == SANDBOX_PORTS[name]
    assert _probe_target(container, "readinessProbe") == ("/healthz", SANDBOX_PORTS[name])
    files = {path.relative_to(K8S).as_posix() for path, doc in DOCS if doc["metadata"]["name"] == name}
    assert files == {"dev/sandboxes.yaml"}
    url = CONFIGMAPS["lendsimple-common"]["data"][f"LENDSIMPLE_{name.split('-')[0].upper()}_URL"]
    assert url == f"http://{name}:{SANDBOX_PORTS[name]}"


@pytest.mark.parametrize("var,target", [
    ("LENDSIMPLE_BORROWERS_URL", "borrowers-api"), ("LENDSIMPLE_LOANS_URL", "loans-api"),
    ("LENDSIMPLE_PAYMENTS_URL", "payments-api"),
])
def test_service_urls_name_the_kubernetes_services(var, target):
    url = CONFIGMAPS["lendsimple-common"]["data"][var]
    assert url == f"http://{target}:{SERVICES_K8S[target]['spec']['ports'][0]['port']}"
