"""deploy/<service>/Dockerfile: multi-stage uv build from the lock, python:3.11-slim runtime, non-root,
every path it copies exists (and is not .dockerignored), its CMD names code that exists."""

from __future__ import annotations

import os
import re
import shlex

import pytest
from deploy_support import (
    API_PORTS,
    REPO,
    SERVICES,
    WORKER_HEALTH_PORT,
    command_errors,
    compose,
    copy_sources,
    dockerfiles,
    dockerignored,
    listening_port,
    parse_dockerfile,
    workspace_package_names,
)

DOCKERFILES = dockerfiles()
BY_DIRECTORY = {directory: (svc, package) for svc, (directory, package) in SERVICES.items()}


def test_one_dockerfile_per_service():
    assert set(DOCKERFILES) == {directory for directory, _ in SERVICES.values()}


def test_compose_builds_every_dockerfile():
    used = {s["build"]["dockerfile"] for s in compose()["services"].values() if "build" in s}
    assert used == {f"deploy/{d}/Dockerfile" for d in DOCKERFILES}


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_copied_paths_exist_and_are_in_the_build_context(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    problems = []
    checked = 0
    for instruction in dockerfile.of("COPY") + dockerfile.of("ADD"):
        flags, sources = copy_sources(instruction)
        if "--from" in flags:
            continue
        for source in sources:
            checked += 1
            if not (REPO / source).exists():
                problems.append(f"{instruction.keyword} {source}: does not exist")
            elif dockerignored(source):
                problems.append(f"{instruction.keyword} {source}: excluded by .dockerignore")
    for instruction in dockerfile.of("RUN"):
        for bind in re.findall(r"--mount=type=bind,\S*", instruction.args):
            source = dict(kv.split("=", 1) for kv in bind.removeprefix("--mount=").split(",")).get("source")
            if source and not (REPO / source).exists():
                problems.append(f"RUN --mount bind source {source}: does not exist")
    assert checked, "no COPY from the build context?"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_workspace_member_pyproject_is_copied_before_the_first_sync(name):
    # uv reads the whole workspace: a member missing from the dependency layer breaks `uv sync`.
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    copied = set()
    for instruction in dockerfile.instructions:
        if instruction.keyword == "RUN" and "uv sync" in instruction.args:
            break
        if instruction.keyword == "COPY":
            copied |= set(copy_sources(instruction)[1])
    expected = {str(p.relative_to(REPO) / "pyproject.toml") for p in workspace_package_names().values()}
    assert expected | {"pyproject.toml", "uv.lock"} <= copied


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_multi_stage_build_with_uv_from_the_lock(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    stages = dockerfile.stages
    assert len(stages) >= 2, "multi-stage build expected"
    text = DOCKERFILES[name].read_text()
    assert "ghcr.io/astral-sh/uv" in " ".join(stages) or "pip install uv" in text
    syncs = [shlex.split(i.args) for i in dockerfile.of("RUN") if "uv sync" in i.args]
    assert syncs, "no uv sync"
    package = BY_DIRECTORY[name][1]
    assert package in workspace_package_names()
    for run in syncs:
        sync = run[run.index("sync") - 1:]
        assert "--frozen" in sync and "--no-dev" in sync, sync
        assert sync[sync.index("--package") + 1] == package, sync
    env = " ".join(i.args for i in dockerfile.of("ENV", 1))
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in env


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_runtime_stage_is_python_311_slim_and_non_root(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    last = dockerfile.last_stage
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", dockerfile.stages[last]), dockerfile.stages[last]
    users = dockerfile.of("USER", last)
    assert users, "runtime stage must set USER"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    copied_venv = [copy_sources(i) for i in dockerfile.of("COPY", last)]
    assert any(flags.get("--from") == "builder" and "/app/.venv" in sources for flags, sources in copied_venv)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_workdir_is_the_service_directory_and_is_copied(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    assert dockerfile.workdir == f"/app/services/{name}"
    assert dockerfile.service_dir.is_dir()
    assert (dockerfile.service_dir / "manage.py").is_file()
    copied = [copy_sources(i)[1] for i in dockerfile.of("COPY", dockerfile.last_stage)]
    assert any(dockerfile.workdir in sources for sources in copied), "the service directory is not copied"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_entrypoint_keeps_signals_and_resets_the_metrics_directory(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    entrypoint = dockerfile.json_form("ENTRYPOINT", dockerfile.last_stage)
    assert entrypoint[:2] == ["/usr/bin/tini", "--"]
    script_in_image = entrypoint[2]
    copies = {sources[0]: i.args for i in dockerfile.of("COPY", dockerfile.last_stage)
              for flags, sources in [copy_sources(i)] if i.args.rstrip().endswith(script_in_image)}
    assert copies, f"{script_in_image} is not copied into the image"
    script = REPO / next(iter(copies))
    text = script.read_text()
    assert text.startswith("#!/bin/sh")
    assert 'exec "$@"' in text and "PROMETHEUS_MULTIPROC_DIR" in text
    assert "--chmod=0755" in next(iter(copies.values())) or os.access(script, os.X_OK)
    assert "tini" in " ".join(i.args for i in dockerfile.of("RUN", dockerfile.last_stage))


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_default_command_names_code_that_exists(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    cmd = dockerfile.json_form("CMD", dockerfile.last_stage)
    errors = command_errors(cmd, dockerfile.service_dir, BY_DIRECTORY[name][0])
    assert not errors, "; ".join(errors)


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_healthcheck_probes_the_port_the_default_command_serves(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    svc = BY_DIRECTORY[name][0]
    port = API_PORTS.get(svc, WORKER_HEALTH_PORT)
    cmd = dockerfile.json_form("CMD", dockerfile.last_stage)
    if svc in API_PORTS:
        assert listening_port(cmd) == port
    exposed = {int(p.split("/")[0]) for i in dockerfile.of("EXPOSE", dockerfile.last_stage) for p in i.args.split()}
    assert exposed == {port}
    healthcheck = dockerfile.of("HEALTHCHECK", dockerfile.last_stage)
    assert len(healthcheck) == 1
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck[0].args


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_image_environment_matches_the_service(name):
    dockerfile = parse_dockerfile(DOCKERFILES[name])
    env = " ".join(i.args for i in dockerfile.of("ENV", dockerfile.last_stage))
    svc = BY_DIRECTORY[name][0]
    assert f"LENDSIMPLE_DB_NAME=lendsimple_{svc}" in env
    assert "PROMETHEUS_MULTIPROC_DIR=" in env
    assert "PATH=/app/.venv/bin:$PATH" in env
    manage = (dockerfile.service_dir / "manage.py").read_text()
    settings = re.search(r"DJANGO_SETTINGS_MODULE=([\w.]+)", env).group(1)
    assert settings in manage


def test_dockerignore_keeps_secrets_and_local_state_out():
    for path in (".git/config", ".venv/bin/python", ".env", ".run/x.log", "services/borrowers/tests/test_x.py"):
        assert dockerignored(path), path
    for path in ("uv.lock", "pyproject.toml", "libs/common/src/common/conf.py", "deploy/docker-entrypoint.sh",
                 "services/accrual-worker/manage.py"):
        assert not dockerignored(path), path
