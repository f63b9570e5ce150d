"""Consumers (and relays) as real processes: killed mid-handler, and cut off by the broker."""

import threading
import time

import pytest
from bus_testkit import (
    CONSUMER,
    NAMESPACE,
    add_probes,
    declare_consumer_queues,
    drop_connections,
    envelope,
    publish,
)
from common.bus.models import InboxMessage, OutboxMessage
from common.bus.outbox import command_add
from common.tenancy import tenant_context
from common.testing import wait_until
from django.db import transaction
from django.db.models import Count
from testproject.testapp.handlers import DIE_ON_MARKER_ENV
from testproject.testapp.models import BusEffect

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_consumer_killed_mid_handler_gets_the_event_again_and_applies_it_once(spawn, amqp, thread_consumer):
    # given a consumer process whose handler will SIGKILL it after writing its effect, before commit
    channel = amqp.channel()
    declare_consumer_queues(channel)
    doomed = spawn("consumer-doomed", "consume", "--service", CONSUMER, env={DIE_ON_MARKER_ENV: "die-here"})
    doomed.wait_for_log("consumer.ready")
    env = envelope("die-here", behaviour="die")

    # when the event arrives and the process dies in the middle of handling it
    publish(channel, env)
    assert doomed.wait_exit(timeout=60) == -9

    # then nothing of the half-done handling is visible
    assert not BusEffect.all_tenants.filter(event_id=env.event_id).exists()
    assert not InboxMessage.objects.filter(event_id=env.event_id).exists()
    # and a restarted consumer gets the event again and applies it exactly once
    thread_consumer()
    wait_until(lambda: InboxMessage.objects.filter(event_id=env.event_id).exists(), timeout=60,
               message="the redelivered event handled")
    assert BusEffect.all_tenants.filter(event_id=env.event_id).count() == 1


def test_relay_and_consumer_survive_the_broker_dropping_every_connection(spawn, amqp):
    # given a relay and a consumer process, both up
    channel = amqp.channel()
    declare_consumer_queues(channel)
    relay = spawn("relay", "relay", "--batch-size", "20")
    consumer = spawn("consumer", "consume", "--service", CONSUMER)
    relay.wait_for_log("relay.started")
    consumer.wait_for_log("consumer.ready")

    # when events (and a few commands) keep committing while the broker closes all their connections,
    # twice, each time with more traffic right behind the drop
    markers = [f"storm-{i}" for i in range(600)]
    command_queue = f"{NAMESPACE}.cmds"
    channel.queue_declare(command_queue, durable=True)
    channel.queue_purge(command_queue)

    def write(chunk: list[str]) -> None:
        add_probes(chunk)
        with tenant_context("acme"), transaction.atomic():
            command_add("tests.record_tenant", args=[chunk[0]], queue=command_queue)

    def background_writer():
        from django.db import connection

        try:
            for start in range(0, len(markers), 30):
                write(markers[start:start + 30])
                time.sleep(0.25)
        finally:
            connection.close()

    writer = threading.Thread(target=background_writer)
    writer.start()
    try:
        wait_until(lambda: OutboxMessage.objects.filter(sent_at__isnull=False).count() >= 90, timeout=60,
                   message="traffic flowing")
        dropped = [drop_connections()]
        extra = [f"after-drop-1-{i}" for i in range(30)]
        write(extra)
        wait_until(lambda: len(relay.logged("relay.broker_connected")) >= 2
                   and len(consumer.logged("consumer.ready")) >= 2, timeout=60, message="both reconnected")
        dropped.append(drop_connections())
        markers += extra + [f"after-drop-2-{i}" for i in range(30)]
        write(markers[-30:])
    finally:
        writer.join(120)
    assert min(dropped) >= 2, dropped       # at least the relay's and the consumer's

    # then every row is sent, and every event's effect is there exactly once
    wait_until(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), timeout=60,
               message="the outbox drained")
    wait_until(lambda: InboxMessage.objects.filter(consumer=CONSUMER).count() == len(markers), timeout=60,
               message="every event handled")
    counts = dict(BusEffect.all_tenants.values_list("marker").annotate(n=Count("id")))
    assert set(counts) == set(markers)
    assert set(counts.values()) == {1}
    # and every command reached its queue (at least once: a command is idempotent on its task id)
    command_ids = {str(i) for i in OutboxMessage.objects.filter(kind="command").values_list("message_id", flat=True)}
    seen = set()
    while (got := channel.basic_get(command_queue, auto_ack=True))[0] is not None:
        seen.add(got[1].headers["id"])
    assert seen == command_ids and len(command_ids) == 22
    # and both noticed both drops and reconnected after each, and stop gracefully on SIGTERM
    assert len(consumer.logged("consumer.connection_lost")) >= 2
    assert len(consumer.logged("consumer.ready")) >= 3
    assert len(relay.logged("relay.broker_error")) >= 2
    assert len(relay.logged("relay.broker_connected")) >= 3
    assert relay.stop() == 0 and consumer.stop() == 0
    assert relay.logged("relay.stopped") and consumer.logged("consumer.stopped")
