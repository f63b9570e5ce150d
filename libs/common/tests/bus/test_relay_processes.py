"""Relays as real processes: killed mid-batch, and two of them at once."""

import time

import pytest
from bus_testkit import CONSUMER, add_probes, declare_consumer_queues, relay_until
from common.bus.models import InboxMessage, OutboxMessage
from common.bus.outbox import _notify
from common.bus.relay import FAULT_ENV
from common.testing import wait_until
from django.db import transaction
from testproject.testapp.models import BusEffect

pytestmark = pytest.mark.django_db(transaction=True)


def test_relay_killed_after_claiming_rows_sends_them_once_after_restart(spawn, probe):
    # given a committed event, and a relay that is SIGKILLed after claiming it, before publishing
    [event] = add_probes(["killed-after-claim"])
    relay = spawn("relay-doomed", "relay", env={FAULT_ENV: "kill_after_claim"})

    # when it dies
    assert relay.wait_exit(timeout=60) == -9

    # then the row is neither sent nor lost: still unsent, and nothing reached the broker
    assert OutboxMessage.objects.get().sent_at is None
    assert probe.collect(expected=1, timeout=0.5) == []
    # and after a restart it is delivered exactly once
    assert relay_until(1) == 1
    probe.collect(expected=1)
    assert probe.ids() == {str(event.event_id): 1}
    assert OutboxMessage.objects.get().sent_at is not None


def test_relay_killed_after_publishing_duplicates_on_the_broker_but_applies_once(spawn, probe, amqp,
                                                                                 thread_consumer):
    # given the consumer's queue, a committed event and a relay SIGKILLed after the broker confirmed
    # the publish but before it marked the row sent
    declare_consumer_queues(amqp.channel())
    [event] = add_probes(["killed-after-publish"])
    relay = spawn("relay-doomed", "relay", env={FAULT_ENV: "kill_after_publish"})
    assert relay.wait_exit(timeout=60) == -9
    assert OutboxMessage.objects.get().sent_at is None

    # when a relay runs again, it sends the row a second time
    assert relay_until(1) == 1
    probe.collect(expected=2)
    assert probe.ids() == {str(event.event_id): 2}

    # then the consumer applies it once
    thread_consumer()
    wait_until(lambda: InboxMessage.objects.filter(event_id=event.event_id).exists(), timeout=60,
               message="the event handled")
    time.sleep(0.5)   # the duplicate right behind it
    assert BusEffect.all_tenants.filter(event_id=event.event_id).count() == 1
    assert InboxMessage.objects.filter(consumer=CONSUMER).count() == 1


def test_two_relays_at_once_send_each_row_once(spawn, probe):
    # given two relays of one service, both up, taking small batches and holding each batch's locks
    # for 30 ms (so that neither can finish the backlog before the other is awake)
    relays = [spawn(f"relay-{i}", "relay", "--batch-size", "50", env={FAULT_ENV: "hold_after_claim=30"})
              for i in (1, 2)]
    for relay in relays:
        relay.wait_for_log("relay.started")
    time.sleep(0.5)   # both LISTENing

    # when 2,000 events commit at once
    from common.bus.envelope import Envelope
    from testproject.testapp.events import Probe

    with transaction.atomic():
        envs = [Envelope(event_type=Probe.EVENT_TYPE, tenant_id="acme", payload=Probe(marker=f"pair-{i}").model_dump())
                for i in range(2000)]
        OutboxMessage.objects.bulk_create([
            OutboxMessage(message_id=e.event_id, kind=OutboxMessage.KIND_EVENT, name=e.event_type,
                          tenant_id=e.tenant_id, body=e.model_dump(mode="json")) for e in envs])
        _notify()

    # then every row is sent, each exactly once, and both relays did part of the work
    wait_until(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), timeout=60,
               message="all rows sent")
    probe.collect(expected=2000, timeout=60, settle=1.0)
    ids = probe.ids()
    assert len(ids) == 2000 and set(ids.values()) == {1}
    assert set(ids) == {str(e.event_id) for e in envs}
    shares = [sum(line["sent"] for line in relay.logged("relay.batch")) for relay in relays]
    assert sum(shares) == 2000 and min(shares) > 0, shares
    # and both stop gracefully on SIGTERM
    assert [relay.stop() for relay in relays] == [0, 0]
