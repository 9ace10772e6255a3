"""Stop a request's database work when its client goes away.

A client that gives up on a large page or count should not leave the database working for
nobody. Watching for the disconnect costs a task per request, so it starts only once the work
has run for `WATCH_AFTER_SECONDS`: short queries, nearly all of them, are never watched. When the
client is gone, the request's task is cancelled, which makes the engine interrupt the statement
(SQLite) or cancel it in the driver (ODBC).

The watcher never starves the event loop, whatever `receive()` does: it yields after every
message, and once the request's body is complete it reads one message more, which a server holds
until the client leaves. A `receive()` that answers again with more request instead (a test
harness, a broken server) has nothing to tell about the client, and the watcher stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from redhorn.errors import ClientDisconnected

T = TypeVar("T")
WATCH_AFTER_SECONDS = 0.05


class _Watch:
    def __init__(self, receive: Receive, task: asyncio.Task[object]) -> None:
        self.receive = receive
        self.task = task
        self.watcher: asyncio.Task[None] | None = None
        self.disconnected = False

    def start(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        body_complete = False
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self.task.cancel()
                return
            if body_complete:
                return  # request after the end of the body: this receive() never reports a disconnect
            body_complete = not message.get("more_body", False)
            await asyncio.sleep(0)  # let the request's own work run between messages

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()


async def while_connected(receive: Receive, work: Awaitable[T]) -> T:
    """The result of `work`, cancelled if the client disconnects while it runs.

    Raises:
        ClientDisconnected: the client went away before the answer was ready.
    """
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(receive, task)
    timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, watch.start)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise
        task.uncancel()
        raise ClientDisconnected("The client closed the connection before the answer was ready") from None
    finally:
        timer.cancel()
        watch.stop()
