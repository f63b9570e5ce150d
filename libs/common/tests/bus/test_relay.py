"""The outbox relay in this process, against the real database and broker."""

import json
import time
import uuid

import pytest
from bus_testkit import NAMESPACE, PROBE_TYPE, add_probes, declare_consumer_queues, queue_depth
from common.bus.envelope import Envelope
from common.bus.models import OutboxMessage
from common.bus.outbox import OutboxOutsideTransaction, command_add, outbox_add
from common.bus.relay import Relay
from common.tasks import CORRELATION_HEADER, TENANT_HEADER
from common.tenancy import tenant_context
from common.testing import wait_until
from django.db import transaction
from prometheus_client import REGISTRY
from testproject.testapp.events import Probe

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def test_a_rolled_back_transaction_publishes_nothing(probe):
    # given a state change that writes an event and then fails
    with pytest.raises(Boom), tenant_context("acme"), transaction.atomic():
        outbox_add(Probe(marker="rolled-back"))
        raise Boom
    # and one that commits after it
    [committed] = add_probes(["committed"])

    # when the relay runs
    Relay().drain()

    # then only the committed event reaches the broker
    messages = probe.collect(expected=1)
    assert [json.loads(body)["payload"]["marker"] for _, _, body in messages] == ["committed"]
    assert list(OutboxMessage.objects.values_list("message_id", flat=True)) == [committed.event_id]


def test_outbox_add_refuses_to_write_outside_a_transaction():
    with tenant_context("acme"), pytest.raises(OutboxOutsideTransaction):
        outbox_add(Probe(marker="no-transaction"))


def _notifies(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("NOTIFY"))


def test_a_transaction_wakes_the_relay_once_and_a_rolled_back_savepoint_does_not_swallow_it():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given a transaction writing several events and a command
    with tenant_context("acme"), CaptureQueriesContext(connection) as queries, transaction.atomic():
        outbox_add(Probe(marker="n-1"))
        outbox_add(Probe(marker="n-2"))
        command_add("ledger.ping")
        # then it sends one NOTIFY, not one per row
        assert _notifies(queries) == 1
    # and a NOTIFY sent inside a savepoint that rolls back (PostgreSQL discards it) is sent again after
    with tenant_context("acme"), CaptureQueriesContext(connection) as queries, transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            outbox_add(Probe(marker="n-3"))
            raise Boom
        outbox_add(Probe(marker="n-4"))
        outbox_add(Probe(marker="n-5"))
        assert _notifies(queries) == 2
    # and the next transaction notifies again
    with tenant_context("acme"), CaptureQueriesContext(connection) as queries, transaction.atomic():
        outbox_add(Probe(marker="n-6"))
        assert _notifies(queries) == 1


def test_relay_publishes_persistent_events_with_ids_and_tenant_and_marks_them_sent(probe):
    # given a committed event
    with tenant_context("globex"), transaction.atomic():
        sent = outbox_add(Probe(marker="props"), correlation_id="corr-1")
    published_before = REGISTRY.get_sample_value("lendsimple_outbox_published_total", {"kind": "event"}) or 0

    # when the relay runs
    assert Relay().drain() == 1

    # then the broker holds it, routed by its type, identified by its event id, with tenant and correlation
    [(method, props, body)] = probe.collect(expected=1)
    assert method.routing_key == PROBE_TYPE
    assert props.message_id == str(sent.event_id)
    assert props.delivery_mode == 2
    assert props.headers[TENANT_HEADER] == "globex"
    assert props.headers[CORRELATION_HEADER] == "corr-1"
    assert Envelope.from_json(body) == sent
    # and the row is marked sent, and the metrics say so
    row = OutboxMessage.objects.get()
    assert row.sent_at is not None and row.attempts == 1
    assert REGISTRY.get_sample_value("lendsimple_outbox_published_total", {"kind": "event"}) == published_before + 1
    assert REGISTRY.get_sample_value("lendsimple_outbox_backlog") == 0


def test_relay_sends_commands_by_name_with_the_row_id_as_task_id_and_the_tenant_header(amqp):
    # given a committed command for a queue of this run (emptied of other tests' commands)
    queue = f"{NAMESPACE}.cmds"
    channel = amqp.channel()
    channel.queue_declare(queue, durable=True)
    channel.queue_purge(queue)
    with tenant_context("acme"), transaction.atomic():
        task_id = command_add("tests.record_tenant", args=["cmd-marker"], queue=queue, correlation_id="corr-2")

    # when the relay runs
    assert Relay().drain() == 1

    # then Celery's message is on the queue, recognisable by the row's id, tenant in the headers
    wait_until(lambda: queue_depth(channel, queue) == 1, timeout=10, message="the command message")
    method, props, body = channel.basic_get(queue, auto_ack=True)
    assert props.headers["id"] == str(task_id)
    assert props.headers["task"] == "tests.record_tenant"
    assert props.headers[TENANT_HEADER] == "acme"
    assert props.headers[CORRELATION_HEADER] == "corr-2"
    assert json.loads(body)[0] == ["cmd-marker"]
    assert OutboxMessage.objects.get().sent_at is not None


def test_relay_leaves_rows_unsent_while_the_broker_is_unreachable(monkeypatch):
    # given a committed event and a broker URL nobody answers on
    add_probes(["unreachable"])
    monkeypatch.setenv("LENDSIMPLE_BROKER_URL", "amqp://guest:guest@127.0.0.1:1/nowhere")

    # when the relay tries
    outcome = Relay().relay_batch()

    # then nothing is marked sent and the failure is recorded on the row
    assert outcome.broker_error is not None and not outcome.sent
    row = OutboxMessage.objects.get()
    assert row.sent_at is None and row.attempts == 1 and row.last_error


def test_relay_throughput_from_a_10000_row_backlog(probe, amqp, record_property, capsys):
    # given 10,000 committed events
    rows = []
    for i in range(10_000):
        env = Envelope(event_type=PROBE_TYPE, tenant_id="acme", correlation_id=uuid.uuid4().hex,
                       payload=Probe(marker=f"bulk-{i}").model_dump(mode="json"))
        rows.append(OutboxMessage(message_id=env.event_id, kind=OutboxMessage.KIND_EVENT, name=env.event_type,
                                  tenant_id=env.tenant_id, correlation_id=env.correlation_id,
                                  body=env.model_dump(mode="json")))
    OutboxMessage.objects.bulk_create(rows, batch_size=2000)

    # when one relay drains them
    started = time.monotonic()
    sent = Relay(batch_size=500).drain()
    elapsed = time.monotonic() - started

    # then every row is sent and on the broker
    assert sent == 10_000
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    channel = amqp.channel()
    wait_until(lambda: queue_depth(channel, probe.name) == 10_000, timeout=30, message="10,000 on the broker")
    declare_consumer_queues(channel)     # later tests' consumer must not wade through these
    rate = sent / elapsed
    record_property("relay_events_per_second", round(rate))
    with capsys.disabled():
        print(f"\nrelay throughput: {sent} events in {elapsed:.2f}s = {rate:,.0f} events/s (batch 500)")
    assert rate > 500, "the relay should publish in batches with one confirm round each"
