"""Test helpers shared by every suite: tokens, polling, a real Celery worker on the real broker.

Tests run against the real PostgreSQL and RabbitMQ (``LENDSIMPLE_DB_*`` and ``LENDSIMPLE_BROKER_URL``;
``make test`` points each suite at its own vhost (``lendsimple_test_<suite>``) so a running ``make run`` stack never
steals a test's messages). Where those variables are unset and a Docker daemon answers, suites may
start both with testcontainers (``maybe_start_containers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

from common.auth import mint_token


def bearer(tenant: str, *roles: str, sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(tenant=tenant, roles=list(roles or ('admin',)), sub=sub)}"}


def wait_until(predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.05,
               message: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


async def await_until(predicate, *, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Async twin of ``wait_until``; ``predicate`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


@contextlib.contextmanager
def running_worker(app, *, concurrency: int = 2, pool: str = "threads", queues: list[str] | None = None) -> Iterator:
    """A real Celery worker (threads pool) consuming from the real broker for the block's duration."""
    from celery.contrib.testing.worker import start_worker

    kwargs = {"queues": queues} if queues else {}
    with start_worker(app, concurrency=concurrency, pool=pool, perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=15, **kwargs) as worker:
        yield worker


def purge_queue(app, queue: str) -> None:
    with app.connection_for_write() as conn:
        with contextlib.suppress(Exception):
            conn.default_channel.queue_purge(queue)


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0


def maybe_start_containers() -> None:
    """Start PostgreSQL and RabbitMQ with testcontainers when no URLs are configured and Docker runs.

    On machines without Docker (CI here) the running services from the environment are used."""
    if os.environ.get("LENDSIMPLE_DB_HOST") or os.environ.get("LENDSIMPLE_BROKER_URL") or not docker_available():
        return
    try:
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer
    except ImportError:
        return
    pg = PostgresContainer("postgres:16").start()
    mq = RabbitMqContainer("rabbitmq:3.13-management").start()
    os.environ.update({
        "LENDSIMPLE_DB_HOST": pg.get_container_host_ip(), "LENDSIMPLE_DB_PORT": str(pg.get_exposed_port(5432)),
        "LENDSIMPLE_DB_USER": pg.username, "LENDSIMPLE_DB_PASSWORD": pg.password,
        "LENDSIMPLE_BROKER_URL": f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}//",
    })
