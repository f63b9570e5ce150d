"""End to end on the real broker: API create → outbox → relay → RabbitMQ → borrowers consumer →
identity sandbox (real HTTP) → kyc_status, with the bus's retry and back-off during an outage."""

import threading
import uuid

import common.bus.amqp as amqp  # noqa: E402
import common.bus.consumer as consumer_mod  # noqa: E402
import common.bus.relay as relay_mod  # noqa: E402
import pytest
from asgiref.sync import sync_to_async
from borrowers.models import Borrower
from common.testing import await_until, bearer

from tests.factories import asandbox, outbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = bearer("acme", "loan_officer", sub="olivia")


@pytest.fixture
def bus(monkeypatch):
    """A borrowers consumer on its own namespace of the test vhost, with short retry delays."""
    import borrowers.handlers  # noqa: F401  (registration, as the consumer's autodiscover does)

    monkeypatch.setenv("LENDSIMPLE_BUS_NAMESPACE", f"test-borrowers-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("LENDSIMPLE_BUS_RETRY_DELAYS_MS", "300")
    monkeypatch.setenv("LENDSIMPLE_BUS_MAX_ATTEMPTS", "5")
    stop = amqp.GracefulStop()
    consumer = consumer_mod.Consumer("borrowers", stop=stop)
    thread = threading.Thread(target=consumer.run, name="borrowers-consumer", daemon=True)
    thread.start()
    from common.testing import wait_until

    wait_until(lambda: consumer.queues is not None, timeout=60, message="consumer ready")
    yield relay_mod.Relay()
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    _delete_topology(consumer.queues)


def _delete_topology(queues) -> None:
    """Leave the test vhost as it was: this run's queues and exchanges go."""
    from common.bus.topology import dead_letter_exchange, events_exchange

    connection = amqp.connect("borrowers-test-cleanup", queues.settings)
    try:
        channel = connection.channel()
        for queue in (queues.main, queues.dlq, *queues.retry_queues):
            channel.queue_delete(queue)
        for exchange in (events_exchange(queues.settings), dead_letter_exchange(queues.settings)):
            channel.exchange_delete(exchange)
    finally:
        connection.close()


async def _status(borrower_id: str) -> str:
    return (await Borrower.all_tenants.aget(id=borrower_id)).kyc_status


async def test_created_borrowers_are_checked_through_the_bus_and_an_outage_is_retried(asgi_client, identity, bus):
    # given the identity provider failing its next two calls
    await asandbox(identity, "POST", {"mode": "fail", "times": 2})
    async with asgi_client as client:
        # when an officer creates two borrowers (one the sandbox rejects) and the relay publishes
        ok = (await client.post("/api/v1/borrowers", json={"first_name": "Grace", "last_name": "Hopper",
                                                           "email": "grace@example.com"}, headers=OFFICER)).json()
        bad = (await client.post("/api/v1/borrowers", json={"first_name": "Ada", "last_name": "Reject",
                                                            "email": "ada@example.com"}, headers=OFFICER)).json()
        assert await sync_to_async(bus.drain, thread_sensitive=False)() >= 2

        # then the consumer retries through the outage and records both results
        async def both_checked():
            return (await _status(ok["id"]), await _status(bad["id"])) == ("verified", "failed")

        await await_until(both_checked, timeout=90, message="both borrowers checked")
        shown = (await client.get(f"/api/v1/borrowers/{ok['id']}", headers=OFFICER)).json()
    assert shown["identity_reference"].startswith("sbx_idv_")
    state = await asandbox(identity)
    assert state["outcomes"]["fail"] == 2 and state["received"] >= 4
    kyc = [e["event_type"] for e in await sync_to_async(outbox_events)() if ".kyc_" in e["event_type"]]
    assert sorted(kyc) == ["borrowers.borrower.kyc_failed.v1", "borrowers.borrower.kyc_verified.v1"]
