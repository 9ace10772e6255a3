"""What each compression level costs and saves on real answers, to choose `Compression`'s defaults.

A redhorn serves the demo data; a 1,000-row page of orders with every column and a 100-row page are
fetched uncompressed, and the time the server takes for each (median of sequential requests, one
client) is the yardstick. Each page is then compressed in process at several levels per algorithm
with the same calls starlette-compress makes for a one-shot body. Compression runs on the event
loop of the worker that serves the page, so its time adds to the page's: a level is worth it when
it saves most of the bytes for a small fraction of that time.
"""

from __future__ import annotations

import gzip
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import httpx
from zstandard import ZstdCompressor

from bench import servers

PAGES = {
    "1000 rows, all columns": "/api/9999/orders?$top=1000&$orderBy=OrderNo",
    "100 rows, all columns": "/api/9999/orders?$top=100&$orderBy=OrderNo",
}
LEVELS: dict[str, tuple[int, ...]] = {
    "gzip": (1, 2, 3, 4, 5, 6, 9),
    "br": (0, 1, 2, 3, 4, 5, 6, 9),
    "zstd": (1, 2, 3, 4, 6, 9, 12),
}
SERVE_REQUESTS = 25
# Each level is timed for at least this long (and at least MIN_REPEATS times), then the median taken.
TIME_BUDGET_SECONDS = 0.4
MIN_REPEATS = 5


def compressor(algorithm: str, level: int) -> Callable[[bytes], bytes]:
    """The one-shot call starlette-compress makes for `algorithm` at `level`."""
    if algorithm == "gzip":
        return lambda body: gzip.compress(body, compresslevel=level)
    if algorithm == "br":
        return lambda body: brotli.compress(body, quality=level)
    return lambda body: ZstdCompressor(level=level).compress(body)


def median_seconds(work: Callable[[], object]) -> float:
    """The median time of `work`, repeated until the time budget and the minimum count are both spent."""
    times: list[float] = []
    deadline = time.perf_counter() + TIME_BUDGET_SECONDS
    while len(times) < MIN_REPEATS or time.perf_counter() < deadline:
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fetch_pages(work: Path) -> dict[str, tuple[bytes, float]]:
    """Each page's uncompressed body and the median time the server takes to answer it."""
    settings = servers.bench_settings(work / "compression", Compression={"Enabled": False})
    pages: dict[str, tuple[bytes, float]] = {}
    with servers.redhorn(settings, tls=False) as port:
        headers = {**servers.FORWARDED, "Accept-Encoding": "identity"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=servers.BENCH_USER, timeout=60) as client:
            for name, path in PAGES.items():
                body = client.get(path, headers=headers).raise_for_status().content
                serve = statistics.median(
                    _timed(lambda path=path: client.get(path, headers=headers).raise_for_status())
                    for _ in range(SERVE_REQUESTS)
                )
                pages[name] = (body, serve)
    return pages


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure_page(body: bytes, serve_seconds: float) -> list[dict[str, Any]]:
    """One row per algorithm and level: time, size, ratio, bytes saved per ms, share of the serve time."""
    rows = []
    for algorithm, levels in LEVELS.items():
        for level in levels:
            compress = compressor(algorithm, level)
            seconds = median_seconds(lambda compress=compress: compress(body))
            size = len(compress(body))
            rows.append(
                {
                    "algorithm": algorithm,
                    "level": level,
                    "ms": seconds * 1000,
                    "bytes": size,
                    "ratio": len(body) / size,
                    "saved_per_ms": (len(body) - size) / (seconds * 1000),
                    "share_of_serve": seconds / serve_seconds,
                }
            )
    return rows


def print_page(name: str, body: bytes, serve_seconds: float, rows: list[dict[str, Any]]) -> None:
    print(f"\n{name}: {len(body):,} bytes uncompressed, served in {serve_seconds * 1000:.1f} ms (median)")
    print(f"  {'level':10} {'ms/page':>8} {'bytes':>10} {'ratio':>6} {'saved/ms':>10} {'of serve':>9}")
    for row in rows:
        label = f"{row['algorithm']} {row['level']}"
        print(
            f"  {label:10} {row['ms']:8.2f} {row['bytes']:10,} {row['ratio']:6.1f} "
            f"{row['saved_per_ms']:10,.0f} {row['share_of_serve']:9.0%}"
        )


def bench_compression(work: Path) -> dict[str, Any]:
    """The compression table for each page; the results keyed by page name."""
    results: dict[str, Any] = {}
    for name, (body, serve_seconds) in fetch_pages(work).items():
        rows = measure_page(body, serve_seconds)
        print_page(name, body, serve_seconds, rows)
        results[name] = {"bytes": len(body), "serve_ms": serve_seconds * 1000, "levels": rows}
    return results
