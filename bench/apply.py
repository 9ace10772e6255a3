"""`$apply` against the same GROUP BY run directly with sqlite3, in the same run.

`groupby((ProductNo),aggregate(AmountInCurrency with sum as Total))` over the order lines of
data/F9999.db (the demo, 1,000,000 lines at full scale), in process: parse, plan and compile
(redhorn.odata.apply, redhorn.query.aggregate, redhorn.sql.aggregate), then the whole grouped
result page by page through the SQLite engine, against `SELECT ProdNo, SUM(Am) FROM OrdLn GROUP BY
ProdNo` fetched by sqlite3. Rounds interleave; medians; the goal is a ratio of at least 0.8.
Not registered in bench/__main__.py: `python -c "from bench.apply import bench_apply; ..."`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import apply_binding, cut_grouped_page, plan_aggregate
from redhorn.query.paging import PageToken, verify_page_token
from redhorn.sql.aggregate import compile_aggregate

ROUNDS = 5
APPLY = "groupby((ProductNo),aggregate(AmountInCurrency with sum as Total))"
DIRECT = "SELECT ProdNo, SUM(Am) FROM OrdLn GROUP BY ProdNo"
KEY = b"bench-apply-key"


async def _redhorn(engine: SqliteEngine, table: Any, page_size: int) -> int:
    options = parse_query_options([])
    apply = parse_apply(APPLY)
    binding = apply_binding("F9999", table, APPLY, options, "bench")
    token: PageToken | None = None
    groups = 0
    while True:
        plan = plan_aggregate(table, apply, options, page_size=page_size, token=token)
        rows = await engine.fetch("F9999", compile_aggregate(engine.dialect, plan.query), timeout=600)
        page, text = cut_grouped_page(plan, rows, KEY, binding)
        groups += len(page)
        if text is None:
            return groups
        token = verify_page_token(KEY, binding, text)


def _direct(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return len(db.execute(DIRECT).fetchall())


async def _measure(data: Path, page_size: int) -> dict[str, float]:
    engine = SqliteEngine(data)
    try:
        metadata = await crawl(engine, load_dictionary())
        table = metadata.databases["F9999"].table("orderlines")
        assert table is not None
        redhorn_times: list[float] = []
        direct_times: list[float] = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            groups = await _redhorn(engine, table, page_size)
            redhorn_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            expected = await asyncio.to_thread(_direct, data / "F9999.db")
            direct_times.append(time.perf_counter() - started)
            assert groups == expected, (groups, expected)
    finally:
        await engine.close()
    redhorn_s, direct_s = statistics.median(redhorn_times), statistics.median(direct_times)
    return {"redhorn_s": redhorn_s, "sqlite3_s": direct_s, "ratio": direct_s / redhorn_s, "groups": groups}


def bench_apply(work: Path, data: Path = Path("data"), page_size: int = 100_000) -> dict[str, float]:
    """The whole grouped result, redhorn (pages of `page_size` groups) against sqlite3, medians of ROUNDS."""
    print(f"\n$apply={APPLY} over data/F9999.db (median of {ROUNDS}, in process)")
    figures = asyncio.run(_measure(data, page_size))
    print(
        f"  redhorn {figures['redhorn_s'] * 1000:8.0f} ms   sqlite3 {figures['sqlite3_s'] * 1000:8.0f} ms   "
        f"ratio {figures['ratio']:.2f}x (goal >= 0.8x), {figures['groups']:.0f} groups"
    )
    return figures
