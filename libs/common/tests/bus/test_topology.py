"""The declared topology on the real broker, and the handler registry."""

import json
import uuid

import pytest
from bus_testkit import CONSUMER, PROBE_TYPE, envelope, publish, queue_depth, rabbitmqctl, vhost
from common.bus.handlers import event_types_for, handles, subscriptions
from common.bus.topology import command_dlq, dead_letter_exchange, ensure_command_queue, service_queues
from common.testing import wait_until
from django.core.management import call_command


def _queues() -> dict[str, dict]:
    rows = json.loads(rabbitmqctl("list_queues", "-p", vhost(), "name", "type", "arguments", "--formatter", "json"))
    return {row["name"]: row for row in rows}


def _args(row) -> dict:
    # rabbitmqctl's JSON renders the argument table as [[key, type, value], ...]
    raw = row["arguments"]
    return {item[0]: item[-1] for item in raw} if isinstance(raw, list) else raw


def test_declare_topology_creates_quorum_queues_retry_tiers_and_dlq(amqp):
    # when the command runs twice (it must be idempotent)
    call_command("declare_topology", verbosity=0)
    call_command("declare_topology", verbosity=0)

    # then the service queue, its retry tiers and its DLQ exist as quorum queues wired as documented
    q = service_queues(CONSUMER)
    assert set(q.retry_queues) == {f"{q.main}.retry.100ms", f"{q.main}.retry.200ms"}
    queues = _queues()
    for name in (q.main, q.dlq, *q.retry_queues):
        assert queues[name]["type"] == "quorum", name
    main = _args(queues[q.main])
    assert main["x-dead-letter-exchange"] == dead_letter_exchange()
    assert main["x-dead-letter-routing-key"] == q.dlq
    assert main["x-delivery-limit"] == 20
    for name, ttl in q.retry_queues.items():
        retry = _args(queues[name])
        assert retry["x-message-ttl"] == ttl
        assert retry["x-dead-letter-routing-key"] == q.main
        assert retry["x-dead-letter-strategy"] == "at-least-once"

    # and the main queue receives exactly the event types the service handles (routing key = type)
    channel = amqp.channel()
    channel.queue_purge(q.main)
    publish(channel, envelope("not-handled"), routing_key="loans.loan.created.v1")
    publish(channel, envelope("routed"))
    wait_until(lambda: queue_depth(channel, q.main) >= 1, timeout=10, message="the routed event")
    amqp.sleep(0.3)
    assert queue_depth(channel, q.main) == 1
    _method, _props, body = channel.basic_get(q.main, auto_ack=True)
    assert b'"marker":"routed"' in body


def test_declare_topology_gives_the_celery_command_queue_a_dead_letter_queue(amqp):
    call_command("declare_topology", verbosity=0)
    queues = _queues()
    assert queues["ledger"]["type"] == queues["ledger.dlq"]["type"] == "quorum"
    args = _args(queues["ledger"])
    assert (args["x-dead-letter-exchange"], args["x-dead-letter-routing-key"]) == ("", "ledger.dlq")
    assert args["x-dead-letter-strategy"] == "at-least-once"
    assert args["x-delivery-limit"] == 20          # a command that keeps killing the worker is dead-lettered
    # and a Celery app (kombu) declares the same queue without the broker refusing it (PRECONDITION_FAILED
    # if any argument differed), as every relay's and the worker's app does
    from common.celery_app import make_celery

    app = make_celery("probe")
    [queue] = app.conf.task_queues
    with app.connection_for_write() as conn:
        queue(conn.default_channel).declare()


def test_a_command_queue_left_by_an_earlier_version_is_replaced_when_empty_and_kept_when_not(amqp):
    # given a command queue declared the old way (quorum, no dead-letter target)
    name = f"probe-commands-{uuid.uuid4().hex[:8]}"
    channel = amqp.channel()
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    try:
        # when it holds a command, the upgrade refuses (the worker must drain it first) and leaves it alone
        channel.basic_publish("", name, b"[[], {}, {}]")
        wait_until(lambda: channel.queue_declare(name, passive=True).method.message_count == 1, timeout=10,
                   message="the queued command")
        with pytest.raises(RuntimeError, match="holds 1 command"):
            ensure_command_queue(amqp, name)
        channel = amqp.channel()
        assert channel.queue_declare(name, passive=True).method.message_count == 1
        # and a worker starting against it stops instead of consuming without a DLQ (only declare_topology upgrades)
        from common.celery_app import declare_command_queue_or_exit

        with pytest.raises(SystemExit):
            declare_command_queue_or_exit(name)
        channel = amqp.channel()
        assert channel.queue_declare(name, passive=True).method.message_count == 1
        # nor while a worker is attached (it may hold unacknowledged commands the count does not show)
        channel.queue_purge(name)
        tag = channel.basic_consume(name, lambda *a: None)
        with pytest.raises(RuntimeError, match="1 worker"):
            ensure_command_queue(amqp, name)
        channel = amqp.channel() if channel.is_closed else channel
        channel.basic_cancel(tag)
        # and once drained and detached it is replaced by one with its DLQ
        ensure_command_queue(amqp, name)
        args = _args(_queues()[name])
        assert args["x-dead-letter-routing-key"] == command_dlq(name)
        ensure_command_queue(amqp, name)                 # idempotent from then on
    finally:
        channel = amqp.channel()
        channel.queue_delete(name)
        channel.queue_delete(command_dlq(name))


def test_a_retry_queue_hands_the_message_back_to_the_main_queue_after_its_ttl(amqp):
    # given the topology
    call_command("declare_topology", verbosity=0)
    q = service_queues(CONSUMER)
    channel = amqp.channel()
    channel.queue_purge(q.main)
    # when a message is parked in the 100 ms tier
    channel.basic_publish("", q.retry_queue(100), b"later")
    # then it shows up in the main queue on its own
    for _ in range(100):
        method, _props, body = channel.basic_get(q.main, auto_ack=True)
        if method:
            assert body == b"later"
            break
        amqp.sleep(0.05)
    else:
        pytest.fail("the retry tier never dead-lettered the message back")


def test_a_retired_event_type_is_unbound_and_a_straggler_is_acked_not_dead_lettered(amqp, transactional_db):
    # given the service's queue bound (by an earlier version) to a type it has since retired
    from common.bus import handlers
    from common.bus.config import bus_settings
    from common.bus.consumer import handle_delivery
    from common.bus.envelope import Envelope
    from common.bus.topology import declare_service
    from pika import BasicProperties

    old = "loans.loan.created.v1"
    channel = amqp.channel()
    q = declare_service(channel, CONSUMER, [PROBE_TYPE, old])
    handlers.retire(old, consumer=CONSUMER, why="test")
    try:
        # when the topology is declared again
        call_command("declare_topology", verbosity=0)
        # then an event of that type no longer reaches the queue, and the handled type still does
        channel.queue_purge(q.main)
        publish(channel, envelope("retired"), routing_key=old)
        publish(channel, envelope("routed"))
        wait_until(lambda: queue_depth(channel, q.main) >= 1, timeout=10, message="the routed event")
        amqp.sleep(0.3)
        assert queue_depth(channel, q.main) == 1
        # and one queued before the unbind is acknowledged (and logged), not dead-lettered as no_handler
        straggler = Envelope(event_type=old, tenant_id="acme", payload={"loan_id": "l-1"})
        verdict = handle_delivery(CONSUMER, straggler.to_json(), BasicProperties(headers={}), bus_settings())
        assert (verdict.action, verdict.outcome) == ("ack", "retired")
        assert handlers.retired_for(CONSUMER) == [old]
    finally:
        handlers._RETIRED[CONSUMER].pop(old, None)


def test_handlers_are_registered_per_consumer_and_discovered_from_installed_apps():
    from common.bus.handlers import autodiscover

    autodiscover()
    assert event_types_for(CONSUMER) == [PROBE_TYPE]
    assert subscriptions()[CONSUMER] == [PROBE_TYPE]


def test_a_handler_for_an_event_type_missing_from_the_catalogue_is_refused():
    with pytest.raises(ValueError, match="not in the event catalogue"):
        handles("loans.loan.dispersed.v1", consumer=CONSUMER)


def test_docs_list_every_event_type_of_the_catalogue():
    from pathlib import Path

    from common.bus.docs import render

    doc = Path(__file__).resolve().parents[4] / "docs" / "events.md"
    if not doc.exists():
        pytest.skip("docs/events.md is not part of this checkout")
    text = doc.read_text()
    assert render(text) == text, "docs/events.md is stale: uv run python -m common.bus.docs docs/events.md"
