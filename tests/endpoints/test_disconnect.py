"""The disconnect watcher: it cancels work whose client left, and never starves the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from redhorn.endpoints import disconnect
from redhorn.endpoints.disconnect import WATCH_AFTER_SECONDS, while_connected
from redhorn.errors import ClientDisconnected

WORK_SECONDS = WATCH_AFTER_SECONDS * 6


async def count_ticks_while(work: Any) -> tuple[Any, int]:
    """Run `work`, counting how often another task got the loop meanwhile."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.005)

    other = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done = True
        await other
    return result, ticks


async def test_a_receive_that_never_suspends_does_not_starve_the_loop():
    """A test harness's receive() answers at once, forever; the watcher once spun on it without yielding."""
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    async def work() -> str:
        await asyncio.sleep(WORK_SECONDS)
        return "answer"

    result, ticks = await asyncio.wait_for(count_ticks_while(while_connected(receive, work())), timeout=5)
    assert result == "answer"
    assert ticks >= 10, "other tasks barely ran while the watcher watched"
    assert calls == 2, "the watcher reads the body, then one message more, and stops"


async def test_a_body_in_parts_is_read_with_a_pause_between_parts():
    parts = [{"type": "http.request", "body": b"x", "more_body": True}] * 1000
    parts.append({"type": "http.request", "body": b"", "more_body": False})
    forever = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop(0)
        await forever.wait()
        raise AssertionError("unreachable")

    async def work() -> str:
        await asyncio.sleep(WORK_SECONDS)
        return "answer"

    result, ticks = await asyncio.wait_for(count_ticks_while(while_connected(receive, work())), timeout=5)
    assert result == "answer" and not parts
    assert ticks >= 10


async def test_work_is_cancelled_when_the_client_leaves():
    cancelled = False
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(WATCH_AFTER_SECONDS)
        return {"type": "http.disconnect"}

    async def work() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled = True
            raise

    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(while_connected(receive, work()), timeout=5)
    assert cancelled


async def test_a_short_request_never_starts_a_watcher(monkeypatch: pytest.MonkeyPatch):
    started: list[object] = []
    monkeypatch.setattr(disconnect._Watch, "start", lambda self: started.append(self))

    async def receive() -> dict[str, Any]:
        raise AssertionError("a request shorter than the watch delay never reads")

    async def work() -> int:
        return 42

    assert await while_connected(receive, work()) == 42
    await asyncio.sleep(WATCH_AFTER_SECONDS * 2)
    assert not started
