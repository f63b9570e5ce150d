"""The test consumer ``testsvc``: what the bus suite's consumer processes run."""

import os
import signal
from collections import Counter

from common.bus.handlers import handles
from common.bus.outbox import outbox_add
from common.logging import get_correlation_id
from django.db import connection

from testproject.testapp.events import Probe
from testproject.testapp.models import BusEffect, BusProjection

CONSUMER = "testsvc"
DIE_ON_MARKER_ENV = "TESTAPP_DIE_ON_MARKER"
CALLS: Counter[str] = Counter()      # handler runs per marker, for consumers running in the test process
FAILING: set[str] = set()            # markers whose handling fails for now (a "broken handler")
BROKE_CONNECTION: set[str] = set()   # "break" markers that already killed the database connection once


@handles("tests.bus.probe.v1", consumer=CONSUMER)
def on_probe(envelope, payload: Probe) -> None:
    CALLS[payload.marker] += 1
    if payload.behaviour == "project":
        _project(payload)
        return
    BusEffect.objects.create(event_id=envelope.event_id, marker=payload.marker,
                             correlation_id=get_correlation_id() or "")
    if payload.marker in FAILING:
        raise RuntimeError(f"handler broken for {payload.marker}")
    if payload.behaviour == "fail":
        raise RuntimeError(f"poison message {payload.marker}")
    if payload.behaviour == "die" and os.environ.get(DIE_ON_MARKER_ENV) == payload.marker:
        os.kill(os.getpid(), signal.SIGKILL)     # mid-handler: the effect is written, not committed
    if payload.behaviour == "break" and payload.marker not in BROKE_CONNECTION:
        BROKE_CONNECTION.add(payload.marker)
        connection.connection.close()            # the database connection dies under the handler
        raise RuntimeError(f"connection lost handling {payload.marker}")
    if payload.behaviour == "emit":
        outbox_add(Probe(marker=f"{payload.marker}-echo"))


def _project(payload: Probe) -> None:
    """The ordering pattern of docs/events.md: lock the projection row, ignore anything not newer."""
    projection, _ = BusProjection.objects.select_for_update().get_or_create(key=payload.key)
    if payload.sequence <= projection.sequence:
        return
    projection.sequence = payload.sequence
    projection.value = payload.marker
    projection.save(update_fields=["sequence", "value"])
