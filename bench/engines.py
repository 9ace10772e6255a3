"""The embedded engine (aiosqlite) against the ODBC engine (aioodbc), on the same files, in one run.

Production reads SQL Server through ODBC; the SQLite ODBC driver reaches the demo's files, so the
two engines answer from the same data and the difference between them is the engine's own cost.
Two shapes of work:

- page: the 100-row sorted page of orders, wrk on loopback (16 connections), one worker each.
- pull: the first `PULL_ROWS` order lines, every property, in pages of 1,000 through
        `@odata.nextLink` (`Prefer: odata.maxpagesize=1000`), one client: what a warehouse
        script does, one statement after another on one connection.

Every round starts both servers afresh (one process runs 10-15% faster or slower than another of
the same program) and alternates which engine goes first; figures are medians over rounds and the
goal is stated as the ratio aioodbc / aiosqlite.

Then where the time goes, in process: the page's statement and a pull page's statement (taken from
the app as it runs them) through each engine's `fetch` and straight through each driver (sqlite3;
pyodbc, its execute and its fetch apart), in CPU milliseconds of the calling thread, the least of
several runs: a loaded machine slows a run down but cannot make it cost less CPU. An engine's
figure minus its driver's is what the engine itself costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import servers
from bench.servers import bearer_token
from bench.wrk import Load, median_load, run_wrk

ROUNDS = 5
PAGE_PATH = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
PULL_PATH = "/api/9999/orderlines"
PULL_ROWS = 100_000
PULL_PAGE_SIZE = 1_000
EMBEDDED = "aiosqlite"
ODBC = "aioodbc"
# The ODBC engine's figures over the embedded engine's: at least this much is the goal.
GOAL = 0.9
# Runs of each statement in process; the least CPU time of them is the figure.
CPU_RUNS = 20


def _odbc_string(data: Path) -> str:
    return f"Driver=SQLite3;Database={data}/{{database}}.db"


@contextlib.contextmanager
def _servers(embedded: Path, odbc: Path) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """Both engines' servers on plain HTTP: each engine's base URL and request headers."""
    with servers.redhorn(embedded, tls=False) as first, servers.redhorn(odbc, tls=False) as second:
        headers = {**servers.FORWARDED, "Authorization": "Bearer " + bearer_token(first)}
        yield {EMBEDDED: (f"http://127.0.0.1:{first}", headers), ODBC: (f"http://127.0.0.1:{second}", headers)}


class _Page(msgspec.Struct, rename={"next_link": "@odata.nextLink"}):
    """What the pull reads of a page: its rows as they were written, and the link to the next."""

    value: list[msgspec.Raw]
    next_link: str | None = None


_PAGE_DECODER = msgspec.json.Decoder(_Page)


def _pull(client: httpx.Client, url: str) -> tuple[float, int, str]:
    """Seconds, rows and a digest of the rows of the first `PULL_ROWS` rows through nextLinks."""
    digest = hashlib.sha256()
    rows = 0
    link: str | None = url
    started = time.perf_counter()
    while link and rows < PULL_ROWS:
        response = client.get(link, headers={"Prefer": f"odata.maxpagesize={PULL_PAGE_SIZE}"})
        response.raise_for_status()
        page = _PAGE_DECODER.decode(response.content)
        rows += len(page.value)
        for row in page.value:
            digest.update(row)
        following = page.next_link
        # The links name https (the trusted-proxy header says so); the pull stays on plain HTTP.
        link = following.replace("https://", "http://", 1) if following else None
    return time.perf_counter() - started, rows, digest.hexdigest()


def _check_same_page(contenders: dict[str, tuple[str, dict[str, str]]]) -> None:
    """Both engines answer the same 100 orders before any is timed."""
    numbers = {}
    for name, (base, headers) in contenders.items():
        response = httpx.get(base + PAGE_PATH, headers=headers, timeout=60)
        response.raise_for_status()
        numbers[name] = [row["OrderNo"] for row in response.json()["value"]]
    if len({tuple(found) for found in numbers.values()}) != 1 or len(numbers[EMBEDDED]) != 100:
        raise SystemExit("the engines do not answer the same 100 orders")


def bench_engines(work: Path) -> dict[str, Any]:
    """The 100-row page and a nextLink pull through aiosqlite and through aioodbc (SQLite ODBC driver)."""
    data = servers.ROOT / "data"
    embedded = servers.bench_settings(work / "embedded")
    odbc = _odbc_settings(work / "odbc", data)
    loads: dict[str, list[Load]] = {EMBEDDED: [], ODBC: []}
    pulls: dict[str, list[float]] = {EMBEDDED: [], ODBC: []}
    digests: set[tuple[int, str]] = set()
    for round_no in range(ROUNDS):
        with _servers(embedded, odbc) as contenders:
            if round_no == 0:
                _check_same_page(contenders)
            names = [EMBEDDED, ODBC] if round_no % 2 == 0 else [ODBC, EMBEDDED]
            for name in names:
                base, headers = contenders[name]
                loads[name].append(run_wrk(base + PAGE_PATH, headers=headers))
            for name in names:
                base, headers = contenders[name]
                with httpx.Client(headers=headers, timeout=120) as client:
                    seconds, rows, digest = _pull(client, base + PULL_PATH)
                pulls[name].append(seconds)
                digests.add((rows, digest))
    if len(digests) != 1:
        raise SystemExit(f"the pulls did not all return the same rows: {sorted(rows for rows, _ in digests)}")
    rows = next(iter(digests))[0]
    page = {name: median_load(values) for name, values in loads.items()}
    pull = {name: rows / statistics.median(values) for name, values in pulls.items()}
    ratios = {
        "page aioodbc / aiosqlite": page[ODBC].requests_per_second / page[EMBEDDED].requests_per_second,
        "pull aioodbc / aiosqlite": pull[ODBC] / pull[EMBEDDED],
    }
    print(f"\nThe same work through each engine (median of {ROUNDS} rounds)")
    print(f"  100-row page of orders, wrk -c16   {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, load in page.items():
        print(f"    {name:32} {load.requests_per_second:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")
    print(f"  pull of {rows:,} order lines, pages of {PULL_PAGE_SIZE:,}, one client   rows/s   seconds")
    for name, rate in pull.items():
        print(f"    {name:32} {rate:9.0f} {statistics.median(pulls[name]):8.2f}")
    for name, ratio in ratios.items():
        print(f"  {name:34} {ratio:9.2f}   (goal >= {GOAL})")
    costs = _statement_costs(work, data)
    print(f"  where the time goes: CPU ms per statement, in process (least of {CPU_RUNS} runs)")
    print(f"    {'':32} {'page':>9} {'pull page':>10}")
    for name in costs["page"]:
        print(f"    {name:32} {costs['page'][name]:9.2f} {costs['pull'][name]:10.2f}")
    return {
        "cpu_ms_per_statement": costs,
        "page": {name: load.__dict__ for name, load in page.items()},
        "pull": {
            name: {"rows": rows, "rows_per_second": rate, "seconds": statistics.median(pulls[name])}
            for name, rate in pull.items()
        },
        "ratios": ratios,
    }


def _odbc_settings(folder: Path, data: Path) -> Path:
    return servers.bench_settings(folder, VismaConnection={"VismaDbConnectionString": _odbc_string(data)})


def _captured_statements(settings_file: Path, data: Path) -> dict[str, Any]:
    """The statements the app runs for the page and for the second page of the pull, as it runs them."""
    from redhorn.application import create_app
    from redhorn.settings import load_settings

    app = create_app(load_settings(settings_file), root=data)
    captured: list[Any] = []

    async def run() -> dict[str, Any]:
        async with app.router.lifespan_context(app):
            engine = app.state.redhorn.engine
            fetch = engine.fetch

            async def spy(database: str, statement: Any, **options: Any) -> Any:
                captured.append(statement)
                return await fetch(database, statement, **options)

            engine.fetch = spy
            transport = httpx.ASGITransport(app=app)
            headers = {"Prefer": f"odata.maxpagesize={PULL_PAGE_SIZE}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="https://bench", auth=servers.BENCH_USER
            ) as client:
                (await client.get(PAGE_PATH)).raise_for_status()
                page = captured[-1]
                first = (await client.get(PULL_PATH, headers=headers)).raise_for_status()
                link = first.json()["@odata.nextLink"].replace("https://bench", "", 1)
                (await client.get(link, headers=headers)).raise_for_status()
                return {"page": page, "pull": captured[-1]}

    return asyncio.run(run())


def _least_cpu(run: Callable[[], object]) -> float:
    """CPU ms of the calling thread for `run()`, the least of `CPU_RUNS` runs after a first."""
    run()
    samples = []
    for _ in range(CPU_RUNS):
        started = time.thread_time()
        run()
        samples.append(time.thread_time() - started)
    return min(samples) * 1000


def _pyodbc_costs(connection: Any, statement: Any) -> tuple[float, float]:
    """CPU ms of the statement straight through pyodbc: the whole of it, and its fetchall alone."""
    fetches: list[float] = []

    def run() -> None:
        cursor = connection.cursor()
        cursor.execute(statement.sql, *statement.params)
        started = time.thread_time()
        cursor.fetchall()
        fetches.append(time.thread_time() - started)
        cursor.close()

    return _least_cpu(run), min(fetches) * 1000


def _engine_cost(engine: Any, statement: Any) -> float:
    """CPU ms of the process (the worker threads' too) for one `engine.fetch`, the least of several."""

    async def run() -> float:
        try:
            await engine.fetch("F9999", statement)
            samples = []
            for _ in range(CPU_RUNS):
                started = time.process_time()
                await engine.fetch("F9999", statement)
                samples.append(time.process_time() - started)
            return min(samples) * 1000
        finally:
            await engine.close()

    return asyncio.run(run())


def _statement_costs(work: Path, data: Path) -> dict[str, dict[str, float]]:
    """CPU ms of the page's and the pull's statement through each engine and through each driver alone.

    Each engine runs the statements its own app runs (the ODBC dialect reads the JSON as text, the
    embedded one as a BLOB), built as the server builds it; pyodbc alone reads as the engine does.
    """
    import pyodbc

    from redhorn.engines.connect import create_engine
    from redhorn.settings import load_settings

    embedded_file = servers.bench_settings(work / "in-process")
    odbc_file = _odbc_settings(work / "in-process-odbc", data)
    embedded_statements = _captured_statements(embedded_file, data)
    odbc_statements = _captured_statements(odbc_file, data)
    costs: dict[str, dict[str, float]] = {}
    for shape, statement in embedded_statements.items():
        odbc_statement = odbc_statements[shape]
        with contextlib.closing(sqlite3.connect(data / "F9999.db")) as native:
            sqlite_alone = _least_cpu(lambda s=statement, c=native: c.execute(s.sql, s.params).fetchall())  # type: ignore[misc]
        odbc = pyodbc.connect(_odbc_string(data).format(database="F9999") + ";OEMCP=0", autocommit=True)
        odbc.setdecoding(pyodbc.SQL_WCHAR, encoding="utf-8", ctype=pyodbc.SQL_CHAR)
        odbc.setdecoding(pyodbc.SQL_CHAR, encoding="utf-8", ctype=pyodbc.SQL_CHAR)
        try:
            odbc_alone, odbc_fetch = _pyodbc_costs(odbc, odbc_statement)
        finally:
            odbc.close()
        costs[shape] = {
            "aiosqlite engine": _engine_cost(create_engine(load_settings(embedded_file), data), statement),
            "sqlite3 alone": sqlite_alone,
            "aioodbc engine": _engine_cost(create_engine(load_settings(odbc_file), data, warn=False), odbc_statement),
            "pyodbc alone": odbc_alone,
            "pyodbc execute": odbc_alone - odbc_fetch,
            "pyodbc fetchall": odbc_fetch,
        }
    return costs
