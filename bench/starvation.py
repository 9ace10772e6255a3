"""Key GETs while heavy queries run on the same company: what the lookup lane is for.

Six clients keep legal but heavy queries running on company 9999 (a `contains` filter with
`$count` over the million order lines, each a full scan), while wrk asks for orders by key. The
figure is the p99 of those key GETs, against the same GETs on an idle server, in one run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.servers import FORWARDED, bearer_token
from bench.wrk import Load, median_load, run_wrk

HEAVY = "/api/9999/orderlines?$filter=contains(Description,'zzzz')&$count=true&$top=1"
KEY_GET = "/api/9999/orders/4242"
HEAVY_CLIENTS = 6
ROUNDS = 3


def _heavy_load(port: int, auth: str, stop: threading.Event, answered: list[int]) -> None:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={**FORWARDED, "Authorization": auth}, timeout=120
    ) as client:
        while not stop.is_set():
            answered.append(client.get(HEAVY).status_code)


def bench_starvation(work: Path) -> dict[str, Any]:
    settings = servers.bench_settings(work / "starvation", Query={"StatementTimeoutSeconds": 60, "PoolWaitSeconds": 60})
    idle: list[Load] = []
    loaded: list[Load] = []
    heavy_statuses: list[int] = []
    for _ in range(ROUNDS):
        with servers.redhorn(settings, tls=False) as port:
            auth = "Bearer " + bearer_token(port)
            headers = {**FORWARDED, "Authorization": auth}
            url = f"http://127.0.0.1:{port}{KEY_GET}"
            idle.append(run_wrk(url, seconds=5, connections=4, headers=headers))
            stop = threading.Event()
            workers = [
                threading.Thread(target=_heavy_load, args=(port, auth, stop, heavy_statuses), daemon=True)
                for _ in range(HEAVY_CLIENTS)
            ]
            for worker in workers:
                worker.start()
            try:
                loaded.append(run_wrk(url, seconds=5, connections=4, headers=headers))
            finally:
                stop.set()
                for worker in workers:
                    worker.join(timeout=120)
    quiet, busy = median_load(idle), median_load(loaded)
    print(f"\nKey GETs while {HEAVY_CLIENTS} heavy scans run on the same company (median of {ROUNDS} rounds, wrk -c4)")
    print(f"  {'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, load in (("key GET, idle server", quiet), (f"key GET, {HEAVY_CLIENTS} heavy scans", busy)):
        print(f"  {name:34} {load.requests_per_second:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")
    print(f"  heavy scans answered: {len(heavy_statuses)}, statuses {sorted(set(heavy_statuses))}")
    return {
        "idle": quiet.__dict__,
        "with_heavy_scans": busy.__dict__,
        "p99_ratio": busy.p99_ms / quiet.p99_ms if quiet.p99_ms else None,
        "heavy_answered": len(heavy_statuses),
    }
