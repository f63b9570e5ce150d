"""docker-compose.yml: valid against the Compose specification, the same processes as `make run`,
every command names code that exists, healthchecks, start order and environment."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from deploy_support import (
    API_PORTS,
    COMPOSE_FILE,
    REPO,
    REQUIRED_ENV,
    SANDBOX_PORTS,
    SERVICES,
    WORKER_HEALTH_PORT,
    command_errors,
    compose,
    compose_schema,
    listening_port,
    load_stack_module,
    normalized,
    parse_dockerfile,
)
from jsonschema import Draft202012Validator

INFRA = {"postgres", "rabbitmq"}
SERVICES_DOC = compose()["services"]
APP_SERVICES = sorted(name for name in SERVICES_DOC if name not in INFRA)


def schema_errors(document: dict) -> list[str]:
    validator = Draft202012Validator(compose_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


def service_dir_of(name: str) -> Path:
    """The directory the service's container runs in: the final WORKDIR of its Dockerfile."""
    build = SERVICES_DOC[name]["build"]
    assert build["context"] == ".", f"{name}: build context must be the repository root"
    return parse_dockerfile(REPO / build["dockerfile"]).service_dir


def process_service(name: str) -> str | None:
    """Which LendSimple service a compose service belongs to (by its image)."""
    dockerfile = Path(SERVICES_DOC[name]["build"]["dockerfile"]).parent.name
    return next((svc for svc, (directory, _) in SERVICES.items() if directory == dockerfile), None)


def env_of(name: str) -> dict:
    env = SERVICES_DOC[name].get("environment") or {}
    assert isinstance(env, dict), f"{name}: environment must be a mapping (from the x- anchor)"
    return env


def healthcheck_argv(name: str) -> list[str]:
    test = SERVICES_DOC[name]["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", f"{name}: healthcheck must be in CMD exec form"
    return test[1:]


def default_of(expression: str) -> str:
    """``${VAR:-default}`` -> default (what compose uses when VAR is unset)."""
    match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", expression)
    assert match, f"{expression!r} is not ${{VAR:-default}}"
    return match.group(2)


# --- the Compose specification -------------------------------------------------------------------

def test_compose_file_validates_against_the_compose_specification():
    errors = schema_errors(compose())
    assert not errors, "docker-compose.yml does not validate:\n" + "\n".join(errors)


@pytest.mark.parametrize("breakage", ["misspelled condition", "unknown service key", "ports as a string"])
def test_the_schema_check_rejects_broken_files(breakage):
    broken = copy.deepcopy(compose())
    api = broken["services"]["borrowers-api"]
    if breakage == "misspelled condition":
        api["depends_on"]["borrowers-migrate"]["condition"] = "service_completed_sucessfully"
    elif breakage == "unknown service key":
        api["healthchek"] = api.pop("healthcheck")
    else:
        api["ports"] = "8001:8001"
    assert schema_errors(broken)


def test_environment_comes_from_an_x_anchor():
    text = COMPOSE_FILE.read_text()
    assert re.search(r"^x-[\w-]+: &lendsimple-env$", text, re.M), "shared environment must be an x- anchor"
    assert "x-lendsimple-env" in compose()


# --- the processes ---------------------------------------------------------------------------------

def test_every_process_of_make_run_has_a_compose_service_with_the_same_command():
    stack = load_stack_module().Stack()
    mismatches = []
    for proc in stack.definitions():
        if proc.name not in SERVICES_DOC:
            mismatches.append(f"{proc.name}: no such compose service")
            continue
        command = SERVICES_DOC[proc.name]["command"]
        if normalized(command) != normalized(proc.argv):
            mismatches.append(f"{proc.name}: compose runs {normalized(command)}, make run {normalized(proc.argv)}")
        if listening_port(proc.argv) != listening_port(command):
            mismatches.append(f"{proc.name}: port {listening_port(command)} != make run's {listening_port(proc.argv)}")
        if process_service(proc.name) != proc.service:
            mismatches.append(f"{proc.name}: runs in the {process_service(proc.name)} image, not {proc.service}'s")
    assert not mismatches, "\n".join(mismatches)


def test_the_expected_services_exist():
    expected = set(INFRA) | {"identity-sandbox", "processor-sandbox", "ledger-worker", "ledger-beat"}
    for svc in SERVICES:
        expected |= {f"{svc}-migrate", f"{svc}-relay", f"{svc}-consumer"}
    expected |= {f"{svc}-api" for svc in API_PORTS} | {"borrowers-kyc-sweep", "payments-charge-sweep"}
    assert set(SERVICES_DOC) == expected


@pytest.mark.parametrize("name", APP_SERVICES)
def test_command_names_code_that_exists(name):
    service = SERVICES_DOC[name]
    assert "entrypoint" not in service, f"{name}: keep the image's entrypoint (tini + metrics reset)"
    errors = command_errors(service["command"], service_dir_of(name), process_service(name))
    assert not errors, f"{name}: " + "; ".join(errors)


@pytest.mark.parametrize("svc", sorted(SERVICES))
def test_one_migrate_and_topology_job_per_service(svc):
    job = SERVICES_DOC[f"{svc}-migrate"]
    script = job["command"][-1]
    assert job["command"][:2] == ["sh", "-c"]
    assert re.search(r"python manage\.py migrate --noinput\b.*&&.*python manage\.py declare_topology", script)
    assert job["restart"] == "no"
    assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert job["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


# --- images ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_process_is_built_from_its_services_dockerfile(name):
    build = SERVICES_DOC[name]["build"]
    assert (REPO / build["dockerfile"]).is_file()
    svc = process_service(name)
    assert svc is not None
    directory = SERVICES[svc][0]
    assert build["dockerfile"] == f"deploy/{directory}/Dockerfile"
    assert SERVICES_DOC[name]["image"].startswith(f"lendsimple/{directory}:")


def test_each_image_name_has_one_build_definition():
    builds: dict[str, set] = {}
    for name in APP_SERVICES:
        service = SERVICES_DOC[name]
        builds.setdefault(service["image"], set()).add(tuple(sorted(service["build"].items())))
    assert all(len(b) == 1 for b in builds.values()), builds


def test_infrastructure_images():
    assert SERVICES_DOC["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert SERVICES_DOC["postgres"]["image"].startswith("postgres:")


# --- health and start order ------------------------------------------------------------------------

def test_postgres_and_rabbitmq_healthchecks():
    pg = healthcheck_argv("postgres")
    assert pg[0] == "pg_isready"
    assert healthcheck_argv("rabbitmq") == ["rabbitmq-diagnostics", "-q", "ping"]


def _url_of_healthcheck(name: str) -> str:
    argv = healthcheck_argv(name)
    urls = [a for a in argv if a.startswith("http://")]
    assert len(urls) == 1, f"{name}: healthcheck must call one URL, got {argv}"
    return urls[0]


@pytest.mark.parametrize("svc", sorted(API_PORTS))
def test_api_healthcheck_is_readyz_on_its_port(svc):
    name = f"{svc}-api"
    assert _url_of_healthcheck(name) == f"http://127.0.0.1:{API_PORTS[svc]}/readyz"
    assert listening_port(SERVICES_DOC[name]["command"]) == API_PORTS[svc]
    assert f"{API_PORTS[svc]}:{API_PORTS[svc]}" in SERVICES_DOC[name]["ports"]


def test_worker_healthcheck_is_readyz_on_the_health_port():
    assert _url_of_healthcheck("ledger-worker") == f"http://127.0.0.1:{WORKER_HEALTH_PORT}/readyz"
    assert env_of("ledger-worker")["LEDGER_HEALTH_PORT"] == str(WORKER_HEALTH_PORT)


@pytest.mark.parametrize("name", sorted(SANDBOX_PORTS))
def test_sandbox_healthcheck_and_port(name):
    assert _url_of_healthcheck(name) == f"http://127.0.0.1:{SANDBOX_PORTS[name]}/healthz"
    assert listening_port(SERVICES_DOC[name]["command"]) == SANDBOX_PORTS[name]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_processes_without_http_disable_the_images_healthcheck(name):
    # The image's HEALTHCHECK probes the API's (or the worker's) port: a relay, consumer, beat or
    # migrate container would be reported unhealthy forever.
    service = SERVICES_DOC[name]
    argv = service["command"]
    serves_http = listening_port(argv) is not None or name == "ledger-worker"
    if serves_http:
        assert not service["healthcheck"].get("disable"), f"{name} serves HTTP: it needs its healthcheck"
    else:
        assert service["healthcheck"] == {"disable": True}, f"{name} serves no HTTP"


@pytest.mark.parametrize("name", sorted(SERVICES_DOC))
def test_depends_on_targets_exist_and_can_meet_their_condition(name):
    for target, spec in (SERVICES_DOC[name].get("depends_on") or {}).items():
        assert target in SERVICES_DOC, f"{name} depends on unknown {target}"
        condition = spec["condition"]
        if condition == "service_healthy":
            health = SERVICES_DOC[target].get("healthcheck") or {}
            assert health.get("test") and not health.get("disable"), f"{target} has no healthcheck"
        elif condition == "service_completed_successfully":
            assert target.endswith("-migrate") and SERVICES_DOC[target]["restart"] == "no"
        else:
            pytest.fail(f"{name} -> {target}: use service_healthy or service_completed_successfully")


@pytest.mark.parametrize("name", sorted(n for n in APP_SERVICES if not n.endswith("-migrate") and "sandbox" not in n))
def test_long_running_processes_wait_for_infra_and_their_migrations(name):
    deps = SERVICES_DOC[name]["depends_on"]
    svc = process_service(name)
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["rabbitmq"]["condition"] == "service_healthy"
    assert deps[f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES_DOC[name]["restart"] == "unless-stopped"


# --- environment -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_process_gets_the_required_environment(name):
    env = env_of(name)
    missing = [var for var in REQUIRED_ENV if var not in env]
    assert not missing, f"{name} lacks {missing}"
    assert env["LENDSIMPLE_DB_NAME"] == f"lendsimple_{process_service(name)}"
    assert env["LENDSIMPLE_DB_HOST"] == "postgres"


def test_jwt_secret_comes_from_the_environment_with_the_development_default():
    expression = compose()["x-lendsimple-env"]["LENDSIMPLE_JWT_SECRET"]
    make_default = re.search(r"^export LENDSIMPLE_JWT_SECRET \?= (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert expression.startswith("${LENDSIMPLE_JWT_SECRET:-")
    assert default_of(expression) == make_default.group(1)


@pytest.mark.parametrize("var,target", [
    ("LENDSIMPLE_BORROWERS_URL", "borrowers-api"), ("LENDSIMPLE_LOANS_URL", "loans-api"),
    ("LENDSIMPLE_PAYMENTS_URL", "payments-api"), ("LENDSIMPLE_IDENTITY_URL", "identity-sandbox"),
    ("LENDSIMPLE_PROCESSOR_URL", "processor-sandbox"),
])
def test_service_urls_point_at_the_listening_container(var, target):
    url = compose()["x-lendsimple-env"][var]
    match = re.fullmatch(r"http://([\w-]+):(\d+)", url)
    assert match, url
    assert match.group(1) == target
    assert int(match.group(2)) == listening_port(SERVICES_DOC[target]["command"])


def test_database_and_broker_credentials_agree():
    env = compose()["x-lendsimple-env"]
    pg = SERVICES_DOC["postgres"]["environment"]
    rabbit = SERVICES_DOC["rabbitmq"]["environment"]
    assert env["LENDSIMPLE_DB_USER"] == pg["POSTGRES_USER"]
    assert env["LENDSIMPLE_DB_PASSWORD"] == pg["POSTGRES_PASSWORD"]
    match = re.fullmatch(r"amqp://([^:]+):(.+)@rabbitmq:5672/([\w-]+)", env["LENDSIMPLE_BROKER_URL"])
    assert match, env["LENDSIMPLE_BROKER_URL"]
    assert match.group(1) == rabbit["RABBITMQ_DEFAULT_USER"]
    assert match.group(2) == rabbit["RABBITMQ_DEFAULT_PASS"]
    assert match.group(3) == rabbit["RABBITMQ_DEFAULT_VHOST"]


def test_postgres_init_script_creates_exactly_the_databases_the_processes_use():
    mounts = [v for v in SERVICES_DOC["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(mounts) == 1
    source = REPO / mounts[0].split(":")[0]
    assert source.is_file()
    created = set(re.findall(r"CREATE DATABASE (\w+);", source.read_text()))
    used = {env_of(name)["LENDSIMPLE_DB_NAME"] for name in APP_SERVICES}
    assert created == used == {f"lendsimple_{svc}" for svc in SERVICES}


def test_only_one_beat():
    beats = [n for n in APP_SERVICES if "beat" in SERVICES_DOC[n]["command"]]
    assert beats == ["ledger-beat"]
    assert "deploy" not in SERVICES_DOC["ledger-beat"], "beat must never be replicated"
