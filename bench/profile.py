"""Where the 100-row page's time goes, so that the next change starts from a measurement.

redhorn is built as `redhorn serve` builds it (the bench settings, its httptools protocol, one
worker, uvicorn's loop) and served by uvicorn inside this process, while wrk drives the page from
outside it over loopback behind a bearer token; pyinstrument samples the event loop's thread for
the whole run. Only that thread is sampled: what SQLite does in aiosqlite's reader thread shows
as the loop's waiting, the self time of the frame that runs the loop. A C function that lets go of
the GIL (`os.urandom` of a request id, a socket send) is charged with the wait to take it back
while the reader thread turns rows into Python objects: its line is the handoff, not its own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from pyinstrument import Profiler
from pyinstrument.frame import Frame

import redhorn
from bench import servers
from bench.wrk import Load, run_wrk
from redhorn.server.logs import log_config
from redhorn.server.protocol import GuardedHttpToolsProtocol
from redhorn.settings import SETTINGS_ENV

PATH = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
SECONDS = 8
SHOWN = 20

FrameKey = tuple[str, str, int]


def self_times(root: Frame) -> dict[FrameKey, float]:
    """Seconds spent in each function itself, summed over every place it was called from."""
    totals: dict[FrameKey, float] = defaultdict(float)
    pending = [root]
    while pending:
        frame = pending.pop()
        pending.extend(child for child in frame.children if not child.is_synthetic)
        totals[(frame.function, frame.file_path_short or "?", frame.line_no or 0)] += frame.total_self_time
    return totals


@contextlib.contextmanager
def settings_in_environment(settings_file: Path) -> Iterator[None]:
    """`REDHORN_SETTINGS` as `redhorn serve` sets it: the protocol reads its limits from the file it names."""
    previous = os.environ.get(SETTINGS_ENV)
    os.environ[SETTINGS_ENV] = str(settings_file)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[SETTINGS_ENV]
        else:
            os.environ[SETTINGS_ENV] = previous


async def profile_page(settings_file: Path, seconds: int) -> tuple[Frame, Load]:
    """The call tree of the event loop's thread while wrk drives the page for `seconds`, and wrk's figures."""
    app = redhorn.create_app(settings_file=settings_file)
    authenticator = app.state.authenticator
    token = authenticator.tokens.issue(authenticator.users.principal(servers.BENCH_USER[0]))
    port = servers.free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=GuardedHttpToolsProtocol,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=log_config(access_log=False, level="warning"),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}{PATH}"
    headers = {**servers.FORWARDED, "Authorization": f"Bearer {token}"}
    try:
        await asyncio.to_thread(run_wrk, url, seconds=2, headers=headers)  # caches, statements, first pages
        profiler = Profiler(async_mode="disabled")
        profiler.start()
        load = await asyncio.to_thread(run_wrk, url, seconds=seconds, headers=headers)
        session = profiler.stop()
    finally:
        server.should_exit = True
        await serving
    root = session.root_frame(trim_stem=False)
    if root is None:
        raise SystemExit("the profile holds no samples")
    return root, load


def run_on_servers_loop(coroutine: Coroutine[Any, Any, tuple[Frame, Load]]) -> tuple[Frame, Load]:
    """On uvloop where uvicorn would choose it (its `auto`), so the loop is the served one."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def bench_profile(work: Path) -> dict[str, Any]:
    """The 100-row page profiled in process: the top frames by self time, one screen."""
    settings_file = servers.bench_settings(work / "profile")
    with settings_in_environment(settings_file):
        root, load = run_on_servers_loop(profile_page(settings_file, SECONDS))
    total = root.time
    times = self_times(root)
    # The frame that runs the loop holds, as its own time, the loop's waiting (for the reader thread
    # or the network): shown apart, so the ranking is of the loop thread's work.
    waiting_key = max(times, key=times.__getitem__)
    waiting = times.pop(waiting_key)
    busy = max(total - waiting, 1e-9)
    ranked = sorted(times.items(), key=lambda item: item[1], reverse=True)[:SHOWN]
    requests = round(load.requests_per_second * SECONDS)
    print(f"\nProfile of the 100-row page, in process under wrk -c16 for {SECONDS} s (pyinstrument, loop thread)")
    print(f"  {requests} requests, {load.requests_per_second:.0f} req/s while sampled, {total * 1000:.0f} ms sampled")
    print(
        f"  the loop waited {waiting / total * 100:.0f}% of the time ({waiting_key[0]}, {waiting_key[1]}); "
        f"it worked {busy * 1000 / max(requests, 1):.2f} ms a request"
    )
    print(f"  {'self ms':>8} {'% work':>7}  function (file:line)")
    top = []
    for (function, file, line), seconds in ranked:
        share = seconds / busy * 100
        print(f"  {seconds * 1000:8.0f} {share:7.1f}  {function} ({file}:{line})")
        top.append({"function": function, "file": file, "line": line, "self_ms": seconds * 1000, "percent": share})
    print("  The reader thread's SQLite work shows as the loop's waiting, in the frame that runs the loop;")
    print("  a C call that lets go of the GIL (urandom, send) carries the wait to take it back from that thread.")
    return {
        "requests": requests,
        "load": load.__dict__,
        "sampled_ms": total * 1000,
        "waiting_ms": waiting * 1000,
        "top": top,
    }
