"""Creates per second through redhorn's writer, against plain sqlite3 INSERTs of the same rows.

Two workloads, each from 50 concurrent clients (wrk) against one redhorn process on plain HTTP
behind the trusted-proxy header: a single associate (its key from the number series), and an
order with 20 nested lines (its number from the series, each line's description, unit and price
looked up from the product, amounts and the order total computed). Two floors, measured in the
same rounds: what SQLite itself does with the same rows (one connection inserting each create
in its own transaction, in the writer's journal mode and durability: WAL, synchronous NORMAL),
and a hand-written Starlette endpoint inserting the body's row over HTTP with no rules
(`bench/write_floor.py`). Every round starts fresh servers; figures are medians over the rounds.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import servers
from bench.wrk import Load, median_load, run_wrk

ROUNDS = 3
SECONDS = 5
CLIENTS = 50
LINES = 20
FORWARDED = servers.FORWARDED


def _bodies(products: list[str]) -> dict[str, bytes]:
    associate = {"Name": "Bench Associate AS", "AddressLine1": "Storgata 1", "PostCode": "0155", "CountryNo": 47}
    lines = [{"ProductNo": product, "Quantity": 1 + n % 7} for n, product in enumerate(products[:LINES])]
    order = {"CustomerNo": 10_100, "OrderDate": 20261128, "OrderLines": lines}
    return {"associates": msgspec.json.encode(associate), "orders": msgspec.json.encode(order)}


def _floor(path: Path, workload: str, seconds: float) -> float:
    """Creates per second that SQLite manages for the same rows, one transaction per create."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    table = "Actor" if workload == "associates" else "Ord"
    # The key goes where the table has it (an extension column may come before it).
    primary = [pk == 1 for (pk,) in connection.execute(f"SELECT pk FROM pragma_table_info('{table}') ORDER BY cid")]
    width = len(primary)
    (line_width,) = connection.execute("SELECT COUNT(*) FROM pragma_table_info('OrdLn')").fetchone()
    (next_key,) = connection.execute(f'SELECT MAX(rowid) + 1000000 FROM "{table}"').fetchone()
    head = f'INSERT INTO "{table}" VALUES ({", ".join("?" * width)})'
    line = f'INSERT INTO "OrdLn" VALUES ({", ".join("?" * line_width)})'
    creates, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        key = next_key + creates
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(head, [key if is_key else 0 for is_key in primary])
        if workload == "orders":
            connection.executemany(line, [(key, n, "P", "Text", *[1] * (line_width - 4)) for n in range(1, LINES + 1)])
        connection.execute("COMMIT")
        creates += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return creates / elapsed


def bench_writes(work: Path) -> dict[str, Any]:
    from redhorn.tools.demo.build import build_demo

    data = work / "writes-data"
    build_demo(data, scale=0.05)
    with sqlite3.connect(data / "F9999.db") as connection:
        products = [row[0] for row in connection.execute('SELECT "ProdNo" FROM "Prod" ORDER BY 1 LIMIT 20')]
    bodies = _bodies(products)
    settings_file = servers.bench_settings(
        work / "writes",
        VismaConnection={"VismaDbConnectionString": f"Engine=sqlite;Data Source={data}"},
        Writes={"IdempotencyDatabase": str(work / "writes" / "idempotency.db")},
    )
    loads: dict[str, list[Load]] = {name: [] for name in bodies}
    floors: dict[str, list[float]] = {name: [] for name in bodies}
    http_floors: dict[str, list[Load]] = {name: [] for name in bodies}
    for round_no in range(ROUNDS):
        with servers.redhorn(settings_file, tls=False) as port:
            token = servers.bearer_token(port)
            headers = {**FORWARDED, "Authorization": "Bearer " + token, "Content-Type": "application/json"}
            for name, body in bodies.items():
                url = f"http://127.0.0.1:{port}/api/9999/{name}"
                check = httpx.post(url, content=body, headers=headers)
                if check.status_code != 201:
                    raise SystemExit(f"redhorn refused the {name} body: {check.text}")
                loads[name].append(
                    run_wrk(url, seconds=SECONDS, connections=CLIENTS, headers=headers, method="POST", body=body)
                )
        with servers.write_floor(data / "F9999.db") as port:
            for name, body in bodies.items():
                url = f"http://127.0.0.1:{port}/api/9999/{name}"
                plain = {"Content-Type": "application/json"}
                if httpx.post(url, content=body, headers=plain).status_code != 201:
                    raise SystemExit(f"the write floor refused the {name} body")
                http_floors[name].append(
                    run_wrk(url, seconds=SECONDS, connections=CLIENTS, headers=plain, method="POST", body=body)
                )
        for name in bodies:
            floors[name].append(_floor(data / "F9999.db", name, SECONDS / 2))
        print(f"  round {round_no + 1}/{ROUNDS} done", flush=True)
    results: dict[str, Any] = {}
    print(f"\nCreates per second, {CLIENTS} concurrent clients, one process each (median of {ROUNDS} rounds)")
    print(
        f"  {'':24} {'redhorn/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'HTTP floor/s':>12}"
        f" {'sqlite3/s':>9} {'/HTTP floor':>11} {'/sqlite3':>8}"
    )
    for name in bodies:
        load, http_floor = median_load(loads[name]), median_load(http_floors[name])
        floor = statistics.median(floors[name])
        label = "associate" if name == "associates" else f"order with {LINES} lines"
        rate = load.requests_per_second
        print(
            f"  {label:24} {rate:9.0f} {load.p50_ms:7.2f} {load.p99_ms:7.2f} {load.errors:6d}"
            f" {http_floor.requests_per_second:12.0f} {floor:9.0f}"
            f" {rate / http_floor.requests_per_second:11.3f} {rate / floor:8.3f}"
        )
        results[label] = {
            "redhorn_creates_per_second": rate,
            "p50_ms": load.p50_ms,
            "p99_ms": load.p99_ms,
            "errors": load.errors + http_floor.errors,
            "http_floor_creates_per_second": http_floor.requests_per_second,
            "sqlite3_inserts_per_second": floor,
            "redhorn_over_http_floor": rate / http_floor.requests_per_second,
            "redhorn_over_sqlite3": rate / floor,
        }
    return results
