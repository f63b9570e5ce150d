"""common.asgi: each request's thread-sensitive work on one thread of its own, threads reused."""

import asyncio
import threading

from asgiref.sync import sync_to_async
from common.asgi import ReusingASGIHandler


def _recording_handler(seen: list) -> ReusingASGIHandler:
    handler = ReusingASGIHandler()

    async def handle(scope, receive, send):
        # thread objects, not idents (the OS reuses an ident once a thread has ended)
        first = await sync_to_async(threading.current_thread)()      # thread-sensitive, as the async ORM
        await asyncio.sleep(0.02)
        second = await sync_to_async(threading.current_thread)()
        seen.append((first, second))

    handler.handle = handle
    return handler


async def test_concurrent_requests_never_share_a_thread_and_one_request_keeps_its_thread():
    seen: list = []
    handler = _recording_handler(seen)
    await asyncio.gather(*(handler({"type": "http"}, None, None) for _ in range(5)))
    assert all(first == second for first, second in seen)
    assert len({first for first, _ in seen}) == 5
    assert threading.current_thread() not in {first for first, _ in seen}


async def test_later_requests_reuse_the_threads_instead_of_starting_new_ones():
    seen: list = []
    handler = _recording_handler(seen)
    await asyncio.gather(*(handler({"type": "http"}, None, None) for _ in range(3)))
    first_wave = {first for first, _ in seen}
    seen.clear()
    threads_before = threading.active_count()
    for _ in range(10):
        await handler({"type": "http"}, None, None)
    assert {first for first, _ in seen} <= first_wave
    assert all(thread.is_alive() for thread in first_wave)
    assert threading.active_count() == threads_before


async def test_only_http_is_served():
    import pytest

    with pytest.raises(ValueError):
        await ReusingASGIHandler()({"type": "websocket"}, None, None)
