"""Helpers of the bus suite: the run's broker namespace, probes, events, child processes.

Every exchange and queue of this run is prefixed with a fresh ``LENDSIMPLE_BUS_NAMESPACE``, so the
suite neither sees nor steals messages of another run sharing the vhost, and everything it declared
is deleted at the end (``conftest.bus_namespace``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import common.bus.amqp  # noqa: F401 - quiets pika's INFO chatter
import pika
from common.bus.topology import events_exchange

COMMON_DIR = Path(__file__).resolve().parents[2]
TESTS_DIR = COMMON_DIR / "tests"
NAMESPACE = f"t{uuid.uuid4().hex[:10]}"
BUS_ENV = {
    "LENDSIMPLE_BUS_NAMESPACE": NAMESPACE,
    "LENDSIMPLE_BUS_MAX_ATTEMPTS": "3",
    "LENDSIMPLE_BUS_RETRY_DELAYS_MS": "100,200",
    "LENDSIMPLE_BUS_PREFETCH": "10",
    "LENDSIMPLE_BUS_HEARTBEAT": "10",
    "LENDSIMPLE_RELAY_SWEEP_MS": "200",
}
CONSUMER = "testsvc"
PROBE_TYPE = "tests.bus.probe.v1"


def delete_namespace() -> None:
    from common.bus.topology import dead_letter_exchange, service_queues

    queues = service_queues(CONSUMER)
    names = [queues.main, queues.dlq, *queues.retry_queues, f"{NAMESPACE}.cmds"]
    with contextlib.suppress(Exception), broker_connection() as conn:
        for name in names:
            channel = conn.channel()
            with contextlib.suppress(Exception):
                channel.queue_delete(name)
        for name in (events_exchange(), dead_letter_exchange(), f"{NAMESPACE}.cmds"):   # Celery names one after its queue
            with contextlib.suppress(Exception):
                conn.channel().exchange_delete(name)


# --- broker -------------------------------------------------------------------------------------------

def broker_url() -> str:
    from common.conf import broker_url as url

    return url()


def vhost() -> str:
    path = urlparse(broker_url()).path
    return unquote(path[1:]) if len(path) > 1 else "/"


@contextlib.contextmanager
def broker_connection():
    params = pika.URLParameters(broker_url())
    params.client_properties = {"connection_name": f"{NAMESPACE}-test-probe"}   # not matched by drop_connections
    conn = pika.BlockingConnection(params)
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def rabbitmqctl(*args: str, timeout: float = 30) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout,
                          check=True).stdout


def drop_connections() -> int:
    """Close, from the broker side, every connection our relays and consumers opened (they are named
    ``<namespace>:lendsimple-...``): what ``rabbitmqctl close_all_connections`` does to them, without
    disturbing other suites sharing the vhost."""
    pids = [line.split("\t", 1)[0] for line in rabbitmqctl("list_connections", "-p", vhost(), "pid",
                                                             "client_properties").splitlines()
            if f'"{NAMESPACE}:lendsimple-' in line]
    closers = [subprocess.Popen(["rabbitmqctl", "-q", "close_connection", pid, "test"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    for closer in closers:
        closer.wait(timeout=30)
    return len(pids)


def queue_depth(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


class ProbeQueue:
    """A private queue bound to every event type on the run's exchange: what the relay published."""

    def __init__(self, conn: pika.BlockingConnection):
        from common.bus.topology import declare_exchanges

        self.channel = conn.channel()
        declare_exchanges(self.channel)
        # exclusive, not auto-delete: it lives as long as the connection, across several collect() calls
        self.name = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.name, events_exchange(), routing_key="#")
        self.messages: list[tuple] = []

    def collect(self, *, expected: int, timeout: float = 60.0, settle: float = 0.3) -> list[tuple]:
        """Read until ``expected`` messages arrived (then ``settle`` seconds more, to see extras)."""
        deadline = time.monotonic() + timeout
        quiet_until = None
        for method, properties, body in self.channel.consume(self.name, auto_ack=True, inactivity_timeout=0.1):
            if method is not None:
                self.messages.append((method, properties, body))
            now = time.monotonic()
            if len(self.messages) >= expected and quiet_until is None:
                quiet_until = now + settle
            if (quiet_until is not None and now >= quiet_until) or now > deadline:
                break
        self.channel.cancel()
        return self.messages

    def ids(self) -> Counter:
        return Counter(p.message_id for _, p, _ in self.messages)


# --- events -------------------------------------------------------------------------------------------

def envelope(marker: str, *, behaviour: str = "ok", tenant: str = "acme", **fields):
    from common.bus.envelope import Envelope
    from testproject.testapp.events import Probe

    payload = Probe(marker=marker, behaviour=behaviour, **fields)
    return Envelope(event_type=PROBE_TYPE, tenant_id=tenant, correlation_id=uuid.uuid4().hex,
                    payload=payload.model_dump(mode="json"))


def publish(channel, env_or_body, *, routing_key: str = PROBE_TYPE, message_id: str | None = None) -> None:
    """Publish straight to the exchange, as a relay would."""
    from common.bus.wire import encode_body, event_properties

    if isinstance(env_or_body, bytes):
        body, props = env_or_body, pika.BasicProperties(message_id=message_id or uuid.uuid4().hex, delivery_mode=2)
    else:
        env = env_or_body
        body = encode_body(env.model_dump(mode="json"))
        props = event_properties(event_id=str(env.event_id), event_type=env.event_type, tenant_id=env.tenant_id,
                                 correlation_id=env.correlation_id)
    channel.basic_publish(events_exchange(), routing_key, body, props)


def add_probes(markers, *, tenant: str = "acme", behaviour: str = "ok") -> list:
    """Commit one outbox row per marker through ``outbox_add``, in one transaction."""
    from common.bus.outbox import outbox_add
    from common.tenancy import tenant_context
    from django.db import transaction
    from testproject.testapp.events import Probe

    with tenant_context(tenant), transaction.atomic():
        return [outbox_add(Probe(marker=m, behaviour=behaviour)) for m in markers]


def declare_consumer_queues(channel, *, purge: bool = True):
    """The test consumer's queues, emptied of what earlier tests left (the exchange is shared)."""
    from common.bus.topology import declare_service

    queues = declare_service(channel, CONSUMER, [PROBE_TYPE])
    if purge:
        for name in (queues.main, queues.dlq, *queues.retry_queues):
            channel.queue_purge(name)
    return queues


def consumed(outcome: str, event_type: str = PROBE_TYPE) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("lendsimple_events_consumed_total",
                                     {"consumer": CONSUMER, "event_type": event_type, "outcome": outcome}) or 0.0


# --- child processes ------------------------------------------------------------------------------------

class Child:
    """``python -m django <args>`` in the test project (``settings_bus``), on the test database, logging JSON to a file."""

    def __init__(self, name: str, args: list[str], *, log_dir: Path, env: dict[str, str]):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen([sys.executable, "-m", "django", *args], cwd=COMMON_DIR, env=env,
                                      stdout=self._log, stderr=subprocess.STDOUT)

    def lines(self) -> list[dict]:
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(raw)
                if isinstance(item, dict):
                    out.append(item)
        return out

    def logged(self, msg: str) -> list[dict]:
        return [line for line in self.lines() if line.get("msg") == msg]

    def wait_for_log(self, msg: str, *, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.logged(msg)
            if found:
                return found[0]
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}) before logging {msg}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not log {msg} within {timeout}s:\n{self.tail()}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout}s:\n{self.tail()}") from None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait: the graceful path. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        return self.popen.returncode

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def relay_until(expected: int, *, timeout: float = 60.0) -> int:
    """Run an in-process relay until ``expected`` rows went out. A SIGKILLed relay's database session
    (and its row locks) ends a moment after the process: until then SKIP LOCKED skips those rows."""
    from common.bus.relay import Relay

    sent = 0
    deadline = time.monotonic() + timeout
    while sent < expected and time.monotonic() < deadline:
        sent += Relay().drain()
        if sent < expected:
            time.sleep(0.1)
    return sent
