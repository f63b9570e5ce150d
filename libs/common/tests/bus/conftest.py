"""Fixtures of the bus suite (helpers live in bus_testkit)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from bus_testkit import (  # noqa: E402
    BUS_ENV,
    CONSUMER,
    NAMESPACE,
    Child,
    ProbeQueue,
    broker_connection,
    broker_url,
    delete_namespace,
)
from bus_testkit import TESTS_DIR as _TESTS_DIR  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def bus_namespace():
    saved = {k: os.environ.get(k) for k in BUS_ENV}
    os.environ.update(BUS_ENV)
    yield NAMESPACE
    delete_namespace()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def amqp():
    with broker_connection() as conn:
        yield conn


@pytest.fixture
def probe(amqp):
    return ProbeQueue(amqp)


# --- consumers in this process --------------------------------------------------------------------------

@pytest.fixture
def thread_consumer(transactional_db):
    """``Consumer("testsvc")`` on a thread of the test process (for tests where nothing has to die)."""
    from common.bus.consumer import Consumer
    from common.bus.handlers import autodiscover

    autodiscover()
    started: list = []

    def start():
        consumer = Consumer(CONSUMER)
        thread = threading.Thread(target=consumer.run, name="test-consumer", daemon=True)
        thread.start()
        assert consumer.ready.wait(60), "consumer did not start"
        started.append((consumer, thread))
        return consumer

    yield start
    for consumer, thread in started:
        consumer.stop.set()
        thread.join(30)
        assert not thread.is_alive(), "consumer thread did not stop"


@pytest.fixture
def spawn(transactional_db, tmp_path):
    from django.db import connection

    children: list[Child] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        child_env = {
            **os.environ, **BUS_ENV,
            "DJANGO_SETTINGS_MODULE": "testproject.settings_bus",
            "PYTHONPATH": os.pathsep.join([str(_TESTS_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "LENDSIMPLE_DB_NAME": connection.settings_dict["NAME"],
            "LENDSIMPLE_BROKER_URL": broker_url(),
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        child = Child(name, list(args), log_dir=tmp_path, env=child_env)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()
