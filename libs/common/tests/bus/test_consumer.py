"""The consumer on a thread of the test process, against the real broker and database."""

import io
import json
import uuid

import pytest
from bus_testkit import (
    CONSUMER,
    PROBE_TYPE,
    consumed,
    declare_consumer_queues,
    envelope,
    publish,
    queue_depth,
)
from common.bus.models import InboxMessage, OutboxMessage
from common.bus.wire import ATTEMPT_HEADER, ERROR_HEADER, REASON_HEADER
from common.testing import wait_until
from django.core.management import call_command
from testproject.testapp import handlers
from testproject.testapp.models import BusEffect, BusProjection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queues(amqp):
    return declare_consumer_queues(amqp.channel())


def _dead_letters(channel, dlq: str) -> list[tuple]:
    found = []
    while (got := channel.basic_get(dlq, auto_ack=True))[0] is not None:
        found.append(got)
    return found


def test_handler_runs_once_with_tenant_and_correlation_restored(amqp, queues, thread_consumer):
    # given a running consumer
    thread_consumer()
    env = envelope("hello", tenant="globex")

    # when an event arrives
    publish(amqp.channel(), env)

    # then the handler ran in the envelope's tenant with its correlation id, and the inbox knows it
    effect = wait_until(lambda: BusEffect.all_tenants.filter(marker="hello").first(), timeout=60, message="effect")
    assert effect.tenant_id == "globex"
    assert effect.event_id == env.event_id
    assert effect.correlation_id == env.correlation_id
    inbox = InboxMessage.objects.get(event_id=env.event_id)
    assert (inbox.consumer, inbox.event_type, inbox.tenant_id) == (CONSUMER, PROBE_TYPE, "globex")


def test_the_same_event_delivered_twice_is_applied_once(amqp, queues, thread_consumer):
    # given a running consumer
    thread_consumer()
    duplicates_before = consumed("duplicate")
    env = envelope("twice")

    # when the same event is delivered twice
    channel = amqp.channel()
    publish(channel, env)
    publish(channel, env)

    # then the second delivery is recognised as a duplicate and acked without effect
    wait_until(lambda: consumed("duplicate") == duplicates_before + 1, timeout=60, message="the duplicate")
    assert BusEffect.all_tenants.filter(event_id=env.event_id).count() == 1
    assert InboxMessage.objects.filter(event_id=env.event_id).count() == 1
    assert queue_depth(channel, queues.main) == 0


def test_a_poison_message_is_dead_lettered_after_the_configured_attempts_and_the_rest_flow(
        amqp, queues, thread_consumer):
    # given a running consumer (LENDSIMPLE_BUS_MAX_ATTEMPTS=3, retry delays 100 ms and 200 ms)
    thread_consumer()
    poison, fine = envelope("poison", behaviour="fail"), [envelope(f"behind-{i}") for i in range(3)]
    handlers.CALLS.clear()

    # when a message that always fails is followed by good ones
    channel = amqp.channel()
    for env in (poison, *fine):
        publish(channel, env)

    # then the good ones are handled without waiting for it
    wait_until(lambda: BusEffect.all_tenants.filter(marker__startswith="behind-").count() == 3, timeout=60,
               message="the messages behind the poison")
    # and the poison ends in the DLQ after exactly three attempts, with the error in its headers
    wait_until(lambda: queue_depth(channel, queues.dlq) == 1, timeout=60, message="the dead letter")
    # (the handler itself may have run once more: in a batch that was rolled back and redone)
    assert handlers.CALLS["poison"] >= 3
    [(_method, props, body)] = _dead_letters(channel, queues.dlq)
    assert props.message_id == str(poison.event_id)
    assert props.headers[ATTEMPT_HEADER] == 3
    assert props.headers[REASON_HEADER] == "max_attempts"
    assert "poison message poison" in props.headers[ERROR_HEADER]
    assert json.loads(body)["event_id"] == str(poison.event_id)
    # and nothing of its failed attempts stuck: no effect, no inbox row
    assert not BusEffect.all_tenants.filter(marker="poison").exists()
    assert not InboxMessage.objects.filter(event_id=poison.event_id).exists()
    for name in queues.retry_queues:
        assert queue_depth(channel, name) == 0


def _batches() -> tuple[float, float]:
    """(transactions, events) the test consumer has handled in batches so far (its histogram)."""
    from prometheus_client import REGISTRY

    labels = {"consumer": CONSUMER}
    return (REGISTRY.get_sample_value("lendsimple_consumer_batch_size_count", labels) or 0.0,
            REGISTRY.get_sample_value("lendsimple_consumer_batch_size_sum", labels) or 0.0)


def test_a_burst_is_handled_in_batches_and_a_failing_or_duplicate_message_affects_only_itself(
        amqp, queues, thread_consumer):
    # given a burst waiting in the queue before the consumer starts: good events, one of them delivered
    # twice, and one poison message in the middle
    channel = amqp.channel()
    good = [envelope(f"burst-{i}") for i in range(30)]
    poison = envelope("burst-poison", behaviour="fail")
    handlers.CALLS.clear()
    for i, env in enumerate(good):
        publish(channel, env)
        if i == 10:
            publish(channel, poison)
            publish(channel, good[3])                   # a duplicate inside the burst
    duplicates_before = consumed("duplicate")
    batches_before, events_before = _batches()

    # when the consumer starts
    thread_consumer()

    # then every good event is applied exactly once, the duplicate is recognised as one
    wait_until(lambda: BusEffect.all_tenants.filter(marker__startswith="burst-").exclude(
        marker="burst-poison").count() == 30, timeout=60, message="the burst")
    wait_until(lambda: queue_depth(channel, queues.dlq) == 1, timeout=60, message="the poison's dead letter")
    wait_until(lambda: consumed("duplicate") == duplicates_before + 1, timeout=30, message="the duplicate's ack")
    assert all(BusEffect.all_tenants.filter(marker=f"burst-{i}").count() == 1 for i in range(30))
    assert InboxMessage.objects.filter(event_id__in=[e.event_id for e in good]).count() == 30
    # and the poison's failed attempts left nothing, while the messages batched with it committed
    assert not BusEffect.all_tenants.filter(marker="burst-poison").exists()
    [(_method, props, _body)] = _dead_letters(channel, queues.dlq)
    assert props.headers[ATTEMPT_HEADER] == 3
    # and the burst was taken in batches (prefetch 10 here: up to 10 at a time)
    batches, events = (now - before for now, before in zip(_batches(), (batches_before, events_before), strict=True))
    assert events >= 32                  # 30 + the duplicate + the poison (+ its retries)
    assert batches <= events / 2
    assert queue_depth(channel, queues.main) == 0


def test_a_batch_whose_connection_breaks_is_handled_again_message_by_message(amqp, queues, thread_consumer):
    # given a burst in which one handler loses the database connection (once)
    channel = amqp.channel()
    burst = [envelope(f"brk-{i}", behaviour="break" if i == 4 else "ok") for i in range(8)]
    handlers.CALLS.clear()
    handlers.BROKE_CONNECTION.clear()
    for env in burst:
        publish(channel, env)
    batches_before, events_before = _batches()

    # when the consumer handles it
    thread_consumer()

    # then nothing of the broken batch was acked as if committed: each event is applied exactly once
    wait_until(lambda: BusEffect.all_tenants.filter(marker__startswith="brk-").count() == 8, timeout=60,
               message="the burst after the broken batch")
    assert handlers.BROKE_CONNECTION == {"brk-4"}
    # and it was a batch that broke (taken together), then redone one by one
    batches, events = (now - before for now, before in zip(_batches(), (batches_before, events_before), strict=True))
    assert batches < events
    assert InboxMessage.objects.filter(event_id__in=[e.event_id for e in burst]).count() == 8
    assert all(BusEffect.all_tenants.filter(marker=f"brk-{i}").count() == 1 for i in range(8))
    assert queue_depth(channel, queues.dlq) == 0


def test_unparseable_messages_go_to_the_dlq_at_once(amqp, queues, thread_consumer):
    # given a running consumer
    thread_consumer()
    handlers.CALLS.clear()
    channel = amqp.channel()

    # when a body that is not an envelope and an envelope whose payload is not a Probe arrive
    publish(channel, b"{not json", message_id="garbage-1")
    bad_payload = envelope("x")
    bad_payload = bad_payload.model_copy(update={"payload": {"behaviour": "ok"}})    # no marker
    publish(channel, bad_payload)

    # then both are dead-lettered without a single handler attempt or retry
    wait_until(lambda: queue_depth(channel, queues.dlq) == 2, timeout=60, message="two dead letters")
    reasons = {p.message_id: p.headers[REASON_HEADER] for _, p, _ in _dead_letters(channel, queues.dlq)}
    assert reasons == {"garbage-1": "unparseable", str(bad_payload.event_id): "invalid_payload"}
    assert handlers.CALLS == {}


def test_dead_letters_can_be_listed_and_replayed_with_a_fresh_attempt_count(amqp, queues, thread_consumer):
    # given a message that failed all its attempts (its handler was broken at the time)
    thread_consumer()
    env = envelope("replay-me")
    handlers.FAILING.add("replay-me")
    channel = amqp.channel()
    publish(channel, env)
    wait_until(lambda: queue_depth(channel, queues.dlq) == 1, timeout=60, message="the dead letter")

    # when an operator lists the dead letters
    out = io.StringIO()
    call_command("dead_letters", "list", service=CONSUMER, stdout=out, stderr=io.StringIO())
    [listed] = [json.loads(line) for line in out.getvalue().splitlines()]
    # then they see what failed and why, and the message stays in the DLQ
    assert listed["event_id"] == str(env.event_id)
    assert listed["reason"] == "max_attempts" and listed["attempts"] == 3
    assert "handler broken for replay-me" in listed["error"]
    wait_until(lambda: queue_depth(channel, queues.dlq) == 1, timeout=5, message="the listed message back")

    # when the handler is fixed and they replay
    handlers.FAILING.discard("replay-me")
    call_command("dead_letters", "replay", service=CONSUMER, stdout=io.StringIO(), stderr=io.StringIO())

    # then the message is handled once and the DLQ is empty
    wait_until(lambda: BusEffect.all_tenants.filter(marker="replay-me").exists(), timeout=60, message="replayed")
    assert queue_depth(channel, queues.dlq) == 0
    assert InboxMessage.objects.filter(event_id=env.event_id).count() == 1


def test_a_stale_sequence_is_ignored_by_a_handler_that_keeps_per_aggregate_order(amqp, queues, thread_consumer):
    # given a running consumer and a projection keyed per aggregate
    thread_consumer()
    key = uuid.uuid4().hex[:12]
    channel = amqp.channel()
    newer, older = (envelope(f"seq-{n}", behaviour="project", key=key, sequence=n) for n in (2, 1))

    # when the updates arrive out of order
    publish(channel, newer)
    publish(channel, older)

    # then both are consumed but the older one changes nothing
    wait_until(lambda: InboxMessage.objects.filter(event_id__in=[newer.event_id, older.event_id]).count() == 2,
               timeout=60, message="both updates consumed")
    projection = BusProjection.all_tenants.get(key=key)
    assert (projection.sequence, projection.value) == (2, "seq-2")


def test_events_a_handler_writes_name_the_handled_event_as_their_cause(amqp, queues, thread_consumer):
    # given a running consumer
    thread_consumer()
    env = envelope("cause", behaviour="emit")

    # when a handler writes an event to the outbox
    publish(amqp.channel(), env)

    # then that event carries the handled event as causation and keeps the correlation id, same tenant
    row = wait_until(lambda: OutboxMessage.objects.filter(name=PROBE_TYPE).first(), timeout=60, message="outbox row")
    assert row.body["causation_id"] == str(env.event_id)
    assert row.body["correlation_id"] == env.correlation_id
    assert row.tenant_id == env.tenant_id
    assert row.body["payload"]["marker"] == "cause-echo"

