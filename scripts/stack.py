#!/usr/bin/env python
"""Start, watch and stop the whole LendSimple stack as local processes.

Used by `make run` (``python scripts/stack.py run``), `make stop` and by the end-to-end tests
(``from stack import Stack``), so the tests start exactly what `make run` starts. Each process's
output is prefixed with its name; Ctrl-C (or SIGTERM) stops every process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
SERVICES = {"borrowers": "services/borrowers", "loans": "services/loans", "payments": "services/payments",
            "ledger": "services/accrual-worker"}
DEFAULT_PORTS = {"borrowers": 8001, "loans": 8002, "payments": 8003, "ledger": 8004, "identity": 8011,
                 "processor": 8012}
COLORS = ["\033[36m", "\033[32m", "\033[33m", "\033[35m", "\033[34m", "\033[31m", "\033[96m", "\033[92m"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STACK_PORT_NAMES = ("borrowers", "loans", "payments", "ledger", "identity", "processor")


def free_ports(names=STACK_PORT_NAMES) -> dict[str, int]:
    """A distinct free port per name: every socket stays bound until all are picked (one free_port() per name
    could hand the same port out twice — seen once: loans-api and the processor sandbox on one port)."""
    sockets = []
    try:
        for _ in names:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return {name: s.getsockname()[1] for name, s in zip(names, sockets, strict=True)}
    finally:
        for s in sockets:
            s.close()


@dataclass
class Proc:
    name: str
    service: str                 # which service's directory / database it runs in
    argv: list[str]
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None


class Stack:
    def __init__(self, *, ports: dict[str, int] | None = None, db_prefix: str = "lendsimple", api_workers: int = 2,
                 env: dict[str, str] | None = None, log_dir: Path | None = None, echo: bool = True,
                 only: set[str] | None = None, api_pool_max: int | None = None):
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.db_prefix = db_prefix
        self.api_workers = api_workers
        self.extra_env = env or {}
        self.log_dir = log_dir
        self.echo = echo
        self.only = only
        self._api_pool_max = api_pool_max
        self.procs: list[Proc] = []
        self._lock = threading.Lock()

    # --- configuration ----------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def db_name(self, service: str) -> str:
        return f"{self.db_prefix}_{service}"

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "LENDSIMPLE_BORROWERS_URL": self.url("borrowers"),
            "LENDSIMPLE_LOANS_URL": self.url("loans"),
            "LENDSIMPLE_PAYMENTS_URL": self.url("payments"),
            "LENDSIMPLE_IDENTITY_URL": self.url("identity"),
            "LENDSIMPLE_PROCESSOR_URL": self.url("processor"),
            "LEDGER_HEALTH_PORT": str(self.ports["ledger"]),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def api_pool_max(self) -> str:
        """The APIs (only) use Django's psycopg pool: 10 connections per worker unless the constructor or
        LENDSIMPLE_DB_POOL_MAX says otherwise. Async ORM calls and the run_atomic/run_sync executor threads
        each hold a connection of their own; without a pool every such thread keeps one open
        (CONN_MAX_AGE), so the connection count follows the peak concurrency — a burst of payments reached
        PostgreSQL's max_connections that way. Relays and consumers keep their own single connection
        (the relay LISTENs on it)."""
        if self._api_pool_max is not None:
            return str(self._api_pool_max)
        return self.base_env().get("LENDSIMPLE_DB_POOL_MAX") or "10"

    def definitions(self) -> list[Proc]:
        py = sys.executable
        bin_dir = Path(py).parent
        gunicorn, celery, uvicorn = (str(bin_dir / n) for n in ("gunicorn", "celery", "uvicorn"))
        procs: list[Proc] = []
        for svc in ("borrowers", "loans", "payments"):
            procs.append(Proc(f"{svc}-api", svc, [
                gunicorn, f"{svc}_service.asgi:application", "-k", "uvicorn.workers.UvicornWorker",
                "-b", f"127.0.0.1:{self.ports[svc]}", "-w", str(self.api_workers), "--graceful-timeout", "5",
                "--timeout", "60", "--access-logfile", "-",
                # gunicorn 27's control socket defaults to one path per user: the three APIs (and any other
                # stack on this host) fought over it ("Address already in use"); nothing here uses it
                "--no-control-socket"], ready_url=f"{self.url(svc)}/readyz",
                env={"LENDSIMPLE_DB_POOL_MAX": self.api_pool_max()}))
        for svc in ("borrowers", "loans", "payments", "ledger"):
            procs.append(Proc(f"{svc}-relay", svc, [py, "manage.py", "relay"]))
            procs.append(Proc(f"{svc}-consumer", svc, [py, "manage.py", "consume", "--service", svc]))
        # Sweeps that repair what an outside provider's outage left behind.
        procs.append(Proc("borrowers-kyc-sweep", "borrowers", [py, "manage.py", "kyc_sweep", "--loop",
                                                               "--interval", "60"]))
        procs.append(Proc("payments-charge-sweep", "payments", [py, "manage.py", "charge_pending"]))
        procs.append(Proc("ledger-worker", "ledger", [celery, "-A", "accrual_worker", "worker", "-Q", "ledger",
                                                      "--pool", "threads", "-c", "4", "-l", "INFO",
                                                      "--without-mingle", "--without-gossip"],
                          ready_url=f"{self.url('ledger')}/readyz"))
        procs.append(Proc("ledger-beat", "ledger", [celery, "-A", "accrual_worker", "beat", "-l", "INFO",
                                                    "-s", str(RUN_DIR / f"celerybeat-{self.db_prefix}")]))
        procs.append(Proc("identity-sandbox", "borrowers", [uvicorn, "borrowers.providers.sandbox_identity:app",
                                                            "--host", "127.0.0.1", "--port",
                                                            str(self.ports["identity"]), "--log-level", "warning"],
                          ready_url=f"{self.url('identity')}/healthz"))
        procs.append(Proc("processor-sandbox", "payments", [uvicorn, "payments.providers.sandbox_processor:app",
                                                            "--host", "127.0.0.1", "--port",
                                                            str(self.ports["processor"]), "--log-level", "warning"],
                          ready_url=f"{self.url('processor')}/healthz"))
        return [p for p in procs if self.only is None or p.name in self.only]

    # --- lifecycle --------------------------------------------------------------------------
    def manage(self, service: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = self.base_env() | {"LENDSIMPLE_DB_NAME": self.db_name(service)}
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT / SERVICES[service], env=env,
                              check=check, capture_output=not self.echo)

    def prepare(self) -> None:
        """Create the four databases if missing, migrate them, declare every service's queues."""
        from dbs import ensure_databases

        ensure_databases([self.db_name(s) for s in SERVICES])
        for svc in SERVICES:
            self._say("stack", f"migrating {self.db_name(svc)}")
            self.manage(svc, "migrate", "--noinput", "-v", "0")
        # Every consumer's queue must exist before any relay publishes: an event published to the
        # exchange with no queue bound yet would be unroutable, i.e. lost for that consumer.
        for svc in SERVICES:
            self.manage(svc, "declare_topology", "-v", "0")

    def start(self) -> None:
        RUN_DIR.mkdir(exist_ok=True)
        # beat's schedule file only remembers last-run times (the daily accrual is idempotent per day); one
        # left half-written by a killed beat makes the next beat exit (EOFError), so a stack starts afresh.
        schedule = f"celerybeat-{self.db_prefix}"     # exactly this stack's file (+ dbm suffixes), not
        for stale in [RUN_DIR / schedule, *RUN_DIR.glob(f"{schedule}.*")]:   # another prefix's that starts alike
            stale.unlink(missing_ok=True)
        env = self.base_env()
        for i, proc in enumerate(self.definitions()):
            penv = env | {"LENDSIMPLE_DB_NAME": self.db_name(proc.service)} | proc.env
            metrics_dir = RUN_DIR / "metrics" / f"{self.db_prefix}-{proc.name}"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            penv["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            proc.popen = subprocess.Popen(proc.argv, cwd=ROOT / SERVICES[proc.service], env=penv,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                          start_new_session=True)
            threading.Thread(target=self._pump, args=(proc, COLORS[i % len(COLORS)]), daemon=True).start()
            self.procs.append(proc)
        (RUN_DIR / f"pids-{self.db_prefix}").write_text("\n".join(str(p.popen.pid) for p in self.procs))

    def _pump(self, proc: Proc, color: str) -> None:
        log = open(self.log_dir / f"{proc.name}.log", "a") if self.log_dir else None  # noqa: SIM115
        width = 18
        for line in proc.popen.stdout:
            if log:
                log.write(line)
                log.flush()
            if self.echo:
                with self._lock:
                    sys.stdout.write(f"{color}{proc.name:<{width}}\033[0m| {line}")
                    sys.stdout.flush()
        if log:
            log.close()

    def _say(self, name: str, message: str) -> None:
        if self.echo:
            with self._lock:
                print(f"\033[1m{name:<18}| {message}\033[0m", flush=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        pending = [p for p in self.procs if p.ready_url]
        while pending:
            for proc in list(pending):
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} before it was ready")
                try:
                    with urllib.request.urlopen(proc.ready_url, timeout=2) as r:
                        if r.status == 200:
                            pending.remove(proc)
                            self._say(proc.name, "ready")
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError("not ready: " + ", ".join(p.name for p in pending))
            time.sleep(0.3)
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}")

    def dead(self) -> list[str]:
        return [p.name for p in self.procs if p.popen and p.popen.poll() is not None]

    def stop(self, timeout: float = 10) -> None:
        for proc in self.procs:
            if proc.popen and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if proc.popen:
                try:
                    proc.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (RUN_DIR / f"pids-{self.db_prefix}").unlink()

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process (SIGKILL by default) and start it again: the chaos tests' fault."""
        proc = next(p for p in self.procs if p.name == name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, sig)
        proc.popen.wait(15)
        env = self.base_env() | {"LENDSIMPLE_DB_NAME": self.db_name(proc.service)} | proc.env
        env["PROMETHEUS_MULTIPROC_DIR"] = str(RUN_DIR / "metrics" / f"{self.db_prefix}-{proc.name}")
        proc.popen = subprocess.Popen(proc.argv, cwd=ROOT / SERVICES[proc.service], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        threading.Thread(target=self._pump, args=(proc, COLORS[0]), daemon=True).start()


def stop_running(db_prefix: str = "lendsimple") -> None:
    pid_file = RUN_DIR / f"pids-{db_prefix}"
    if not pid_file.exists():
        print("nothing is running")
        return
    for pid in pid_file.read_text().split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid), signal.SIGTERM)
    pid_file.unlink()
    print("stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["run", "prepare", "stop"])
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.command == "stop":
        stop_running()
        return 0
    stack = Stack(log_dir=RUN_DIR)
    if args.command == "prepare":
        stack.prepare()
        return 0
    stop_event = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    try:
        stack.prepare()
        stack._say("stack", "starting processes")
        stack.start()
        stack.wait_ready()
        stack._say("stack", "every /readyz answers 200")
        if not args.no_demo and (Path(__file__).parent / "demo.py").exists():
            from demo import run_demo

            try:
                run_demo(stack)
            except Exception as exc:  # the stack stays up for exploration even if the demo fails
                stack._say("demo", f"FAILED: {exc!r}")
        stack._say("stack", "running; Ctrl-C (or `make stop`) stops everything")
        while not stop_event.is_set():
            dead = stack.dead()
            if dead:
                stack._say("stack", f"exited: {', '.join(dead)}")
                break
            stop_event.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack._say("stack", "stopping")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
