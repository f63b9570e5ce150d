"""Helpers of the deployment tests: load docker-compose.yml, the Dockerfiles and the Kubernetes
manifests, and check that a process's command names something that exists in the repository.

Nothing here imports Django or any LendSimple code: the checks read files, so they run (and mean the
same) whether or not the services' modules import cleanly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMMON_SRC = REPO / "libs" / "common" / "src" / "common"

# The services of the workspace: the name scripts/stack.py uses -> (Dockerfile dir, package name).
SERVICES = {
    "borrowers": ("borrowers", "lendsimple-borrowers"),
    "loans": ("loans", "lendsimple-loans"),
    "payments": ("payments", "lendsimple-payments"),
    "ledger": ("accrual-worker", "lendsimple-accrual-worker"),
}
API_PORTS = {"borrowers": 8001, "loans": 8002, "payments": 8003}
WORKER_HEALTH_PORT = 8004
SANDBOX_PORTS = {"identity-sandbox": 8011, "processor-sandbox": 8012}

# What every LendSimple process must be given (README "Environment", scripts/stack.py).
REQUIRED_ENV = (
    "LENDSIMPLE_DB_HOST", "LENDSIMPLE_DB_PORT", "LENDSIMPLE_DB_USER", "LENDSIMPLE_DB_PASSWORD",
    "LENDSIMPLE_DB_NAME", "LENDSIMPLE_BROKER_URL", "LENDSIMPLE_JWT_SECRET",
    "LENDSIMPLE_BORROWERS_URL", "LENDSIMPLE_LOANS_URL", "LENDSIMPLE_PAYMENTS_URL",
    "LENDSIMPLE_IDENTITY_URL", "LENDSIMPLE_PROCESSOR_URL", "PROMETHEUS_MULTIPROC_DIR",
)

# Console scripts a command may start with -> the distribution that installs it.
EXECUTABLES = {"gunicorn": "gunicorn", "uvicorn": "uvicorn", "celery": "celery"}
# Django's own management commands that deployments use (everything else must be a file in the repo).
DJANGO_BUILTIN_COMMANDS = {"migrate", "check", "showmigrations", "createsuperuser"}


# --- loading --------------------------------------------------------------------------------------

@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def compose_schema() -> dict:
    """The Compose specification's JSON schema, as shipped (vendored) by check-jsonschema."""
    ref = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(ref.read_text())


def dockerfiles() -> dict[str, Path]:
    """deploy/<name>/Dockerfile by <name>."""
    return {p.parent.name: p for p in sorted(DEPLOY.glob("*/Dockerfile"))}


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def k8s_documents() -> tuple[tuple[Path, dict], ...]:
    docs = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return tuple(docs)


def k8s_objects(kind: str | None = None, *, include_example: bool = False) -> list[dict]:
    return [doc for path, doc in k8s_documents()
            if (kind is None or doc.get("kind") == kind) and (include_example or path.name != "secret.example.yaml")]


def workspace_package_names() -> dict[str, Path]:
    """Workspace member package name -> its directory."""
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members: dict[str, Path] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for path in sorted(REPO.glob(pattern)):
            if (path / "pyproject.toml").exists():
                members[tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"]] = path
    return members


def load_stack_module():
    """scripts/stack.py (stdlib only at import time), under a name that cannot clash."""
    spec = importlib.util.spec_from_file_location("lendsimple_stack_for_deploy_tests", REPO / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- Dockerfiles ----------------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int            # index of the FROM it belongs to


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]
    args: dict[str, str] = field(default_factory=dict)   # global ARG defaults (before the first FROM)

    def of(self, keyword: str, stage: int | None = None) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword and (stage is None or i.stage == stage)]

    @property
    def stages(self) -> list[str]:
        """The image each stage starts FROM, with global ARGs substituted."""
        return [self.substitute(i.args.split()[0]) for i in self.of("FROM")]

    @property
    def last_stage(self) -> int:
        return len(self.of("FROM")) - 1

    def substitute(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.args.get(m.group(1) or m.group(2), m.group(0)), text)

    def json_form(self, keyword: str, stage: int | None = None) -> list[str] | None:
        found = self.of(keyword, stage)
        if not found:
            return None
        value = json.loads(found[-1].args)
        assert isinstance(value, list), f"{self.path}: {keyword} is not in exec (JSON) form"
        return value

    @property
    def workdir(self) -> str:
        return self.of("WORKDIR", self.last_stage)[-1].args.strip()

    @property
    def service_dir(self) -> Path:
        """The repository directory the final WORKDIR (/app/<dir>) corresponds to."""
        return REPO / PurePosixPath(self.workdir).relative_to("/app")


def parse_dockerfile(path: Path) -> Dockerfile:
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue                     # a comment line inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        logical.append(current)
    result = Dockerfile(path, [])
    stage = -1
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        if keyword == "ARG" and stage == -1:
            name, _, default = rest.strip().partition("=")
            result.args[name] = default
        result.instructions.append(Instruction(keyword, rest.strip(), stage))
    return result


def copy_sources(instruction: Instruction) -> tuple[dict[str, str], list[str]]:
    """The flags and the source paths of a COPY/ADD (the last operand is the destination)."""
    if instruction.args.startswith("["):
        operands = json.loads(instruction.args)
        flags: dict[str, str] = {}
    else:
        words = shlex.split(instruction.args)
        flags = {w.split("=", 1)[0]: (w.split("=", 1) + [""])[1] for w in words if w.startswith("--")}
        operands = [w for w in words if not w.startswith("--")]
    return flags, operands[:-1]


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        patterns.append((negate, line.lstrip("!").strip("/")))
    return patterns


def _segment_regex(segment: str) -> str:
    out, i = "", 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in segment[i + 1:]:
            end = segment.index("]", i + 1)
            out += "[" + segment[i + 1:end].replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return out


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's matching: Go filepath.Match per segment, ``**`` any number of segments; a pattern that
    matches a directory excludes everything below it."""
    segments = pattern.split("/")
    regex = "/".join("(?:[^/]+(?:/[^/]+)*)?" if seg == "**" else _segment_regex(seg) for seg in segments)
    regex = regex.replace("(?:[^/]+(?:/[^/]+)*)?/", "(?:[^/]+/)*")
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def dockerignored(path: str) -> bool:
    ignored = False
    for negate, pattern in dockerignore_patterns():
        if _pattern_matches(pattern, path):
            ignored = not negate
    return ignored


# --- commands -------------------------------------------------------------------------------------

def _settings_text(service_dir: Path) -> str:
    manage = (service_dir / "manage.py").read_text()
    match = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)['\"]", manage)
    if not match:
        return ""
    settings = service_dir / (match.group(1).replace(".", "/") + ".py")
    return settings.read_text() if settings.exists() else ""


def _installed(app_module: str, service_dir: Path) -> bool:
    """Whether the Django app ``app_module`` is in the service's INSTALLED_APPS (read from its settings
    module and from common.conf, which adds the apps every service has)."""
    texts = [_settings_text(service_dir), (COMMON_SRC / "conf.py").read_text()]
    return any(re.search(rf"['\"]{re.escape(app_module)}(\.apps\.\w+)?['\"]", text) for text in texts)


def management_command_errors(name: str, args: list[str], service_dir: Path, process_service: str | None) -> list[str]:
    if not (service_dir / "manage.py").exists():
        return [f"{service_dir.relative_to(REPO)}/manage.py does not exist"]
    if name in DJANGO_BUILTIN_COMMANDS:
        return []
    candidates = sorted(service_dir.glob(f"*/management/commands/{name}.py"))
    candidates += sorted(COMMON_SRC.glob(f"**/management/commands/{name}.py"))
    if not candidates:
        return [f"management command {name!r}: no */management/commands/{name}.py in "
                f"{service_dir.relative_to(REPO)} or libs/common"]
    errors = []
    usable = []
    for path in candidates:
        rel = path.relative_to(service_dir if path.is_relative_to(service_dir) else COMMON_SRC.parent)
        app_module = ".".join(rel.parts[: rel.parts.index("management")])
        text = path.read_text()
        if not re.search(r"^class Command\b", text, re.M):
            errors.append(f"{path.relative_to(REPO)} defines no Command class")
        elif not _installed(app_module, service_dir):
            errors.append(f"{path.relative_to(REPO)}: app {app_module!r} is not installed in {service_dir.name}")
        else:
            usable.append(text)
    if not usable:
        return errors
    for option in (a for a in args if a.startswith("--")):
        flag = option.split("=", 1)[0]
        if flag in {"--noinput", "--no-input", "--check", "--verbosity", "--settings", "--traceback"}:
            continue
        if not any(flag in text for text in usable):
            errors.append(f"management command {name!r} has no option {flag}")
    if "--service" in args:
        value = args[args.index("--service") + 1]
        if value not in SERVICES:
            errors.append(f"--service {value!r} is not one of {sorted(SERVICES)}")
        elif process_service and value != process_service:
            errors.append(f"--service {value!r} runs in the {process_service} service's image")
    return errors


def _module_file(service_dir: Path, module: str) -> Path | None:
    base = service_dir / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _defines(path: Path, attr: str) -> bool:
    return bool(re.search(rf"^(?:{attr}\s*(?::[^=\n]+)?=|def {attr}\b|async def {attr}\b|class {attr}\b)",
                          path.read_text(), re.M))


def _distribution_available(dist: str, service_dir: Path) -> bool:
    """Whether ``dist`` is a dependency of the service (directly or through lendsimple-common)."""
    deps = []
    for pyproject in (service_dir / "pyproject.toml", REPO / "libs" / "common" / "pyproject.toml"):
        if pyproject.exists():
            deps += tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
    names = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in deps}
    return dist in names


def _option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def ledger_queue() -> str | None:
    match = re.search(r"^LEDGER_QUEUE\s*=\s*['\"]([^'\"]+)['\"]", (COMMON_SRC / "commands.py").read_text(), re.M)
    return match.group(1) if match else None


def command_errors(argv: list[str], service_dir: Path, process_service: str | None = None) -> list[str]:
    """What is wrong with running ``argv`` in ``service_dir`` (the image's WORKDIR): [] if every
    module, attribute, management command and option it names exists in the repository."""
    if not argv:
        return ["empty command"]
    exe = PurePosixPath(argv[0]).name
    args = argv[1:]
    if exe in {"sh", "bash"} and args[:1] == ["-c"]:
        script = args[1] if len(args) > 1 else ""
        found = re.findall(r"python3? manage\.py ([\w-]+)((?: --?[\w-]+(?:=\S+)?| [\w-]+)*)", script)
        if not found:
            return [f"shell command runs no manage.py command: {script!r}"]
        errors = []
        for name, rest in found:
            errors += management_command_errors(name, rest.split(), service_dir, process_service)
        return errors
    if re.fullmatch(r"python(3(\.\d+)?)?", exe):
        if args[:1] != ["manage.py"] or len(args) < 2:
            return [f"python runs something other than manage.py <command>: {argv}"]
        return management_command_errors(args[1], args[2:], service_dir, process_service)
    if exe not in EXECUTABLES:
        return [f"unknown executable {exe!r}"]
    errors = []
    if not _distribution_available(EXECUTABLES[exe], service_dir):
        errors.append(f"{exe} is not a dependency of {service_dir.name} (nor of lendsimple-common)")
    if exe in {"gunicorn", "uvicorn"}:
        targets = [a for a in args if ":" in a and not a.startswith("-") and not re.match(r"^[\d.]+:\d+$", a)
                   and a != _option(args, "-b", "--bind")]
        if len(targets) != 1:
            return errors + [f"{exe}: expected one module:attribute, got {targets}"]
        module, _, attr = targets[0].partition(":")
        path = _module_file(service_dir, module)
        if path is None:
            errors.append(f"{exe}: module {module!r} does not exist in {service_dir.relative_to(REPO)}")
        elif not _defines(path, attr):
            errors.append(f"{exe}: {path.relative_to(REPO)} defines no {attr!r}")
        worker = _option(args, "-k", "--worker-class")
        if exe == "gunicorn" and worker:
            worker_module, _, worker_class = worker.rpartition(".")
            spec = importlib.util.find_spec(worker_module.split(".")[0])
            if spec is None or not _class_in_module(worker_module, worker_class):
                errors.append(f"gunicorn worker class {worker!r} does not exist")
        return errors
    # celery -A <app> <worker|beat> ...
    app = _option(args, "-A", "--app")
    if app is None:
        return errors + ["celery without -A/--app"]
    module, _, attr = app.partition(":")
    package = service_dir / module.replace(".", "/")
    candidates = [p for p in (_module_file(service_dir, module), package / "celery.py") if p and p.exists()]
    if not candidates:
        errors.append(f"celery app module {module!r} does not exist in {service_dir.relative_to(REPO)}")
    elif not any(_defines(p, attr or "app") or (not attr and _defines(p, "celery")) for p in candidates):
        errors.append(f"celery: {module!r} defines no Celery app ({attr or 'app'})")
    sub = [a for a in args if a in {"worker", "beat"}]
    if not sub:
        errors.append(f"celery: no worker/beat sub-command in {args}")
    queue = _option(args, "-Q", "--queues")
    if queue is not None and queue != ledger_queue():
        errors.append(f"celery -Q {queue!r} is not common.commands.LEDGER_QUEUE ({ledger_queue()!r})")
    return errors


def _class_in_module(module: str, name: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    return bool(re.search(rf"^class {re.escape(name)}\b", Path(spec.origin).read_text(), re.M))


# --- comparing with scripts/stack.py --------------------------------------------------------------

# Options whose values legitimately differ between local processes and containers.
_VOLATILE_OPTIONS = {"-b", "--bind", "-w", "--workers", "--worker-tmp-dir", "--graceful-timeout", "--timeout",
                     "--access-logfile", "-s", "--schedule", "--host", "--port", "--log-level", "-l", "--loglevel"}


# Flags only the local stack needs: several gunicorn masters on one host share the default control-socket
# path; a container has one.
_LOCAL_ONLY_FLAGS = {"--no-control-socket"}


def normalized(argv: list[str]) -> list[str]:
    """argv without the executable's directory and without environment-specific options."""
    exe = PurePosixPath(argv[0]).name
    if re.fullmatch(r"python(3(\.\d+)?)?", exe):
        exe = "python"
    out = [exe]
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in _LOCAL_ONLY_FLAGS:
            continue
        if arg in _VOLATILE_OPTIONS:
            skip = True
            continue
        if arg.split("=", 1)[0] in _VOLATILE_OPTIONS:
            continue
        out.append(arg)
    return out


def listening_port(argv: list[str]) -> int | None:
    bind = _option(argv, "-b", "--bind")
    if bind:
        return int(bind.rsplit(":", 1)[1])
    port = _option(argv, "--port")
    return int(port) if port else None
