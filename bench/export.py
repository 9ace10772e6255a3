"""A whole table as one streamed NDJSON answer against the same rows through nextLinks, in the same run.

Every order line of data/F9999.db (1,000,000 at full scale), with three properties and with all
of them: the pull a warehouse script makes today (pages of 1,000 with `Prefer:
odata.maxpagesize=1000`, following `@odata.nextLink`) against `Accept: application/x-ndjson`, one
request. Both on plain HTTP behind a trusted proxy header, one client, uncompressed and with zstd
(bytes on the wire counted). Rounds interleave; medians; rows/s and the stream's ratio.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import servers

ROUNDS = 3
SHAPES = {"3 properties": "$select=OrderNo,LineNo,AmountInCurrency", "all properties": ""}


def _pages(client: httpx.Client, url: str) -> tuple[int, int]:
    """Rows and bytes of a nextLink pull."""
    rows = size = 0
    link: str | None = url
    while link:
        response = client.get(link, headers={"Prefer": "odata.maxpagesize=1000"})
        response.raise_for_status()
        size += len(response.content)
        body = response.json()
        rows += len(body["value"])
        following = body.get("@odata.nextLink")
        link = following.replace("https://", "http://", 1) if following else None
    return rows, size


def _stream_rows(client: httpx.Client, url: str, encoding: str) -> tuple[int, int]:
    rows = wire = 0
    headers = {"Accept": "application/x-ndjson", "Accept-Encoding": encoding}
    with client.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                rows += 1
        wire = response.num_bytes_downloaded
    return rows, wire


def bench_export(work: Path) -> dict[str, Any]:
    settings_file = servers.bench_settings(work)
    with sqlite3.connect(servers.ROOT / "data" / "F9999.db") as connection:
        total = connection.execute("SELECT COUNT(*) FROM OrdLn").fetchone()[0]
    results: dict[str, Any] = {}
    with servers.redhorn(settings_file, tls=False) as port:
        headers = {**servers.FORWARDED, "Authorization": "Bearer " + servers.bearer_token(port)}
        with httpx.Client(headers=headers, timeout=600) as client:
            for shape, select in SHAPES.items():
                url = f"http://127.0.0.1:{port}/api/9999/orderlines" + (f"?{select}" if select else "")
                contenders: dict[str, Callable[[], tuple[int, int]]] = {
                    "nextLink pages of 1,000": lambda url=url: _pages(client, url),
                    "NDJSON stream": lambda url=url: _stream_rows(client, url, "identity"),
                    "NDJSON stream, zstd": lambda url=url: _stream_rows(client, url, "zstd"),
                }
                seconds: dict[str, list[float]] = {name: [] for name in contenders}
                wire: dict[str, int] = {}
                for _ in range(ROUNDS):
                    for name, run in contenders.items():
                        started = time.perf_counter()
                        rows, size = run()
                        seconds[name].append(time.perf_counter() - started)
                        if rows != total:
                            raise SystemExit(f"{name} ({shape}) returned {rows} rows, the table has {total}")
                        wire[name] = size
                rates = {name: total / statistics.median(times) for name, times in seconds.items()}
                base = rates["nextLink pages of 1,000"]
                print(f"\nWhole table of {total:,} order lines, {shape} (median of {ROUNDS} rounds, one client)")
                print(f"  {'':26} {'rows/s':>10} {'MB on wire':>11} {'vs pages':>9}")
                for name, rate in rates.items():
                    print(f"  {name:26} {rate:10.0f} {wire[name] / 1e6:11.1f} {rate / base:9.2f}")
                results[shape] = {
                    name: {"rows_per_second": rates[name], "bytes": wire[name], "vs_pages": rates[name] / base}
                    for name in contenders
                }
    return results
