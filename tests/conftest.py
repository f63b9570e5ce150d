"""Root suites (e2e, reliability, deploy). The `stack` fixture (session-wide, started only by the
suites that ask for it): the whole system started exactly as `make run` starts it (scripts/stack.py),
on free ports, with its own databases (lendsimple_e2e_*) and its own RabbitMQ vhost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

# LENDSIMPLE_E2E_PREFIX lets two sessions on one machine each have their own stack (default lendsimple_e2e).
DB_PREFIX = os.environ.get("LENDSIMPLE_E2E_PREFIX", "lendsimple_e2e")
VHOST = DB_PREFIX


def _ensure_vhost() -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True)


@pytest.fixture(scope="session")
def stack():
    from dbs import drop_databases
    from stack import SERVICES, Stack, free_ports

    _ensure_vhost()
    ports = free_ports()
    log_dir = ROOT / ".run" / ("e2e-logs" if DB_PREFIX == "lendsimple_e2e" else f"{DB_PREFIX}-logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    stack = Stack(ports=ports, db_prefix=DB_PREFIX, api_workers=1, log_dir=log_dir, echo=False,
                  env={"LENDSIMPLE_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"})
    drop_databases([stack.db_name(s) for s in SERVICES])
    stack.prepare()
    stack.start()
    try:
        stack.wait_ready(timeout=120)
        yield stack
    finally:
        stack.stop()
        if dead := stack.dead():
            print(f"processes that had exited: {dead}; logs in {log_dir}")


@pytest.fixture(scope="session")
def ledger_db(stack):
    import psycopg

    conn = psycopg.connect(host=os.environ.get("LENDSIMPLE_DB_HOST", "127.0.0.1"), user="postgres",
                           dbname=stack.db_name("ledger"), autocommit=True)
    yield conn
    conn.close()
