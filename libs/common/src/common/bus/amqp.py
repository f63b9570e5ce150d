"""pika plumbing shared by the relay, the consumer and the tools: connections, a publisher that waits
for one round of broker confirms per batch, back-off and graceful stop."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import pika
import pika.exceptions

from common.bus.config import BusSettings, bus_settings

# pika logs every connection step at INFO; the bus logs what matters itself.
logging.getLogger("pika").setLevel(logging.WARNING)

# Everything that means "the broker connection or channel is gone; reconnect and try again".
BROKER_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, ConnectionError, OSError)


def connection_name(role: str, settings: BusSettings | None = None) -> str:
    """What RabbitMQ shows for the connection (and what the fault tests select connections by)."""
    settings = settings or bus_settings()
    prefix = f"{settings.namespace}:" if settings.namespace else ""
    return f"{prefix}lendsimple-{role}@{socket.gethostname()}:{os.getpid()}"


def pika_url(broker_url: str) -> str:
    """The broker URL as pika reads it. Celery/kombu read ``amqp://host//`` as the vhost "/", pika as
    the vhost "" (which does not exist): normalise the vhost to pika's percent-encoded form."""
    parts = urllib.parse.urlsplit(broker_url)
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))


def connect(role: str, settings: BusSettings | None = None) -> pika.BlockingConnection:
    settings = settings or bus_settings()
    params = pika.URLParameters(pika_url(settings.broker_url))
    params.heartbeat = settings.heartbeat
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.client_properties = {"connection_name": connection_name(role, settings)}
    return pika.BlockingConnection(params)


class PublishTimeout(Exception):
    """The broker did not confirm every message of a batch in time; their fate is unknown."""


@dataclass
class ConfirmResult:
    acked: set[str] = field(default_factory=set)       # message ids the broker took responsibility for
    nacked: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)    # acked, but no queue was bound to the routing key
    unconfirmed: set[str] = field(default_factory=set)  # published, verdict unknown (connection lost, timeout)


class ConfirmingPublisher:
    """Publishes a batch and waits for all its confirms at once.

    ``BlockingChannel.basic_publish`` in confirm mode waits for each message's confirm, a round trip
    per message (about 1,000/s against a quorum queue here). The underlying ``pika.channel.Channel``
    reports confirms through a callback, so the batch is written in one go and the blocking
    connection's I/O loop is pumped until every delivery tag is acked or nacked."""

    def __init__(self, connection: pika.BlockingConnection):
        self._connection = connection
        self._blocking_channel = connection.channel()
        self._channel = self._blocking_channel._impl  # noqa: SLF001 - see the class docstring
        self._next_tag = 1
        self._pending: dict[int, str] = {}
        self._result = ConfirmResult()
        selected = threading.Event()
        self._channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.set())
        self._channel.add_on_return_callback(self._on_return)
        self._pump_until(selected.is_set, timeout=30)

    @property
    def channel(self):
        return self._blocking_channel

    def publish(self, *, exchange: str, routing_key: str, body: bytes, properties: pika.BasicProperties,
                mandatory: bool = True) -> None:
        if self._blocking_channel.is_closed:
            raise pika.exceptions.ChannelWrongStateError("publisher channel is closed")
        self._channel.basic_publish(exchange=exchange, routing_key=routing_key, body=body,
                                    properties=properties, mandatory=mandatory)
        self._pending[self._next_tag] = properties.message_id
        self._next_tag += 1

    def wait_for_confirms(self, timeout: float = 30.0) -> ConfirmResult:
        """Flush what was published since the last call and wait for the broker's verdict on all of it.

        Raises ``PublishTimeout`` or a broker error; ``take_result()`` then tells what was confirmed."""
        self._pump_until(lambda: not self._pending, timeout=timeout)
        return self.take_result()

    def take_result(self) -> ConfirmResult:
        result, self._result = self._result, ConfirmResult()
        result.unconfirmed = set(self._pending.values())
        self._pending.clear()
        return result

    def _pump_until(self, done, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self._blocking_channel.is_closed:
                raise pika.exceptions.ChannelClosed(-1, "publisher channel closed while waiting for confirms")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishTimeout(f"{len(self._pending)} message(s) unconfirmed after {timeout}s")
            self._connection.process_data_events(time_limit=min(remaining, 0.05))

    def _on_confirm(self, frame) -> None:
        method = frame.method
        tags = ([t for t in self._pending if t <= method.delivery_tag] if method.multiple
                else [method.delivery_tag])
        target = self._result.acked if isinstance(method, pika.spec.Basic.Ack) else self._result.nacked
        for tag in tags:
            message_id = self._pending.pop(tag, None)
            if message_id is not None:
                target.add(message_id)

    def _on_return(self, _channel, _method, properties, _body) -> None:
        # Basic.Return precedes the Basic.Ack of the same message.
        self._result.returned.add(properties.message_id)


class Backoff:
    """Exponential back-off with jitter: 0.25 s, 0.5 s, ... up to ``maximum``; ``reset()`` after success."""

    def __init__(self, initial: float = 0.25, maximum: float = 10.0):
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


class GracefulStop:
    """SIGTERM / SIGINT ask the loop to stop after the unit of work in hand (a batch, a message).

    The handler only sets a flag (no locks: it runs between two bytecodes of whatever the main
    thread was doing); waits poll it in short slices."""

    def __init__(self) -> None:
        self._requested = False

    def install(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum, _frame) -> None:
        self._requested = True

    def set(self) -> None:
        self._requested = True

    @property
    def requested(self) -> bool:
        return self._requested

    def sleep(self, seconds: float) -> bool:
        """Sleep unless a stop is requested; True if it was."""
        deadline = time.monotonic() + seconds
        while not self._requested and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.1))
        return self._requested


def close_quietly(connection) -> None:
    if connection is None:
        return
    try:
        if connection.is_open:
            connection.close()
    except Exception:  # noqa: BLE001 - closing a connection that may already be dead
        pass
