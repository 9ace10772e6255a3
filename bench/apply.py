"""`$apply` against the same GROUP BY run directly with sqlite3, in the same run.

`groupby((ProductNo),aggregate(AmountInCurrency with sum as Total))` over the order lines of
data/F9999.db (the demo, 1,000,000 lines at full scale), in process: parse, plan and compile
(redhorn.odata.apply, redhorn.query.aggregate, redhorn.sql.aggregate), then the grouped result
through the SQLite engine, against `SELECT ProdNo, SUM(Am) FROM OrdLn GROUP BY ProdNo` fetched by
sqlite3. Three figures, each a ratio against the one direct statement:

- single: the whole result as one page, one statement (the goal is at least 0.8);
- paged: the whole result pulled page by page through the signed tokens, at the server's default
  page size, each page a statement of its own (at 100 groups a page too when asked:
  `paged=(1000, 100)`; without an index on ProdNo each of its 200 pages reads the whole table,
  minutes a round, so not by default);
- filtered: the paged pull with `$filter=Total gt ...` (a condition on an aggregate, so the
  derived shape whose seek on the group keys still goes before grouping), against the direct
  GROUP BY with the same HAVING.

Every round runs every contender once, in turn, so the machine's noise hits them alike; the
figures are medians over the rounds. `python -m bench apply`, or in process:
`python -c "from bench.apply import bench_apply; from pathlib import Path; bench_apply(Path('/tmp/x'))"`.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import apply_binding, cut_grouped_page, plan_aggregate
from redhorn.query.paging import PageToken, verify_page_token
from redhorn.settings import QuerySettings
from redhorn.sql.aggregate import compile_aggregate

ROUNDS = 5
APPLY = "groupby((ProductNo),aggregate(AmountInCurrency with sum as Total))"
DIRECT = "SELECT ProdNo, SUM(Am) FROM OrdLn GROUP BY ProdNo"
# A bound every demo product's total passes at full scale: the filter costs, but keeps the pull as long.
THRESHOLD = 1000
FILTERED = [("$filter", f"Total gt {THRESHOLD}")]
DIRECT_FILTERED = f"SELECT ProdNo, SUM(Am) FROM OrdLn GROUP BY ProdNo HAVING SUM(Am) > {THRESHOLD}"
# The server's page when the client asks for none (`Prefer: odata.maxpagesize` absent).
DEFAULT_PAGE_SIZE = QuerySettings().max_page_size
KEY = b"bench-apply-key"

Contender = Callable[[], Awaitable[int]]


async def _redhorn(engine: SqliteEngine, table: Any, page_size: int, options: list[tuple[str, str]]) -> int:
    """How many groups the whole pull delivers, following each page's token as a client does."""
    parsed = parse_query_options(options)
    apply = parse_apply(APPLY)
    binding = apply_binding("F9999", table, APPLY, parsed, "bench")
    token: PageToken | None = None
    groups = 0
    while True:
        plan = plan_aggregate(table, apply, parsed, page_size=page_size, token=token)
        rows = await engine.fetch("F9999", compile_aggregate(engine.dialect, plan.query), timeout=600)
        page, text = cut_grouped_page(plan, rows, KEY, binding)
        groups += len(page)
        if text is None:
            return groups
        token = verify_page_token(KEY, binding, text)


def _direct(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return len(db.execute(sql).fetchall())


def _contenders(
    engine: SqliteEngine, table: Any, data: Path, single: int, paged: tuple[int, ...]
) -> dict[str, Contender]:
    """Every timed pull by name; `direct*` are the peers the others are divided by."""
    database = data / "F9999.db"
    contenders: dict[str, Contender] = {
        "direct": lambda: asyncio.to_thread(_direct, database, DIRECT),
        "single": lambda: _redhorn(engine, table, single, []),
    }
    for size in paged:
        contenders[f"paged_{size}"] = functools.partial(_redhorn, engine, table, size, [])
    if paged:
        contenders["direct_filtered"] = lambda: asyncio.to_thread(_direct, database, DIRECT_FILTERED)
        contenders["filtered"] = lambda: _redhorn(engine, table, paged[0], FILTERED)
    return contenders


async def _measure(data: Path, single: int, paged: tuple[int, ...], rounds: int) -> dict[str, float]:
    engine = SqliteEngine(data)
    times: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    try:
        metadata = await crawl(engine, load_dictionary())
        table = metadata.databases["F9999"].table("orderlines")
        assert table is not None
        contenders = _contenders(engine, table, data, single, paged)
        for _ in range(rounds):
            for name, pull in contenders.items():
                started = time.perf_counter()
                counts[name] = await pull()
                times.setdefault(name, []).append(time.perf_counter() - started)
    finally:
        await engine.close()
    return _figures(times, counts)


def _figures(times: dict[str, list[float]], counts: dict[str, int]) -> dict[str, float]:
    """Medians in seconds (`<name>_s`) and each pull's ratio against its direct peer (`<name>_ratio`)."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    figures: dict[str, float] = {"groups": counts["direct"], "sqlite3_s": medians["direct"]}
    figures["redhorn_s"] = medians["single"]
    figures["ratio"] = medians["direct"] / medians["single"]
    for name, median in medians.items():
        if name.startswith("direct"):
            continue
        peer = "direct_filtered" if name == "filtered" else "direct"
        assert counts[name] == counts[peer], (name, counts[name], counts[peer])
        figures[f"{name}_s"] = median
        figures[f"{name}_ratio"] = medians[peer] / median
    return figures


def bench_apply(
    work: Path,
    data: Path = Path("data"),
    page_size: int = 100_000,
    paged: tuple[int, ...] = (DEFAULT_PAGE_SIZE,),
    rounds: int = ROUNDS,
) -> dict[str, float]:
    """The grouped result in one statement (`page_size` groups a page) and pulled through pages of
    each size in `paged`, against sqlite3's one GROUP BY; medians of `rounds` interleaved rounds."""
    print(f"\n$apply={APPLY} over data/F9999.db (median of {rounds}, in process)")
    figures = asyncio.run(_measure(data, page_size, paged, rounds))
    direct_ms = figures["sqlite3_s"] * 1000
    print(
        f"  single statement  redhorn {figures['redhorn_s'] * 1000:8.0f} ms   sqlite3 {direct_ms:8.0f} ms   "
        f"ratio {figures['ratio']:.2f}x (goal >= 0.8x), {figures['groups']:.0f} groups"
    )
    for size in paged:
        print(
            f"  paged by {size:<8} redhorn {figures[f'paged_{size}_s'] * 1000:8.0f} ms   sqlite3 {direct_ms:8.0f} ms   "
            f"ratio {figures[f'paged_{size}_ratio']:.2f}x"
        )
    if paged:
        print(
            f"  filtered, by {paged[0]:<4} redhorn {figures['filtered_s'] * 1000:8.0f} ms   "
            f"ratio {figures['filtered_ratio']:.2f}x (against the same HAVING)"
        )
    return figures
