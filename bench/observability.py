"""What the access log and the metrics cost: the 100-row page with both on, against both off.

Two redhorns serve the demo data side by side in each round (plain HTTP behind the trusted-proxy
header, bearer token, one worker each): one as shipped (a JSON access line per request, written to
a file, and every request counted for `/metrics`), one with `--no-access-log` and
`Metrics.Enabled: false`. Request ids and `Server-Timing` are on in both: they are not optional.
Every round starts fresh processes and alternates which runs first; the figures are medians over
the rounds, and the cost is `1 - on / off` (the goal: at most 5%).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import servers
from bench.wrk import Load, median_load, run_wrk

ROUNDS = 5
SECONDS = 8
PATH = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
GOAL = 0.05


@contextlib.contextmanager
def _redhorn(settings_file: Path, *, access_log: bool) -> Iterator[int]:
    port = servers.free_port()
    args = [str(servers.BIN / "redhorn"), "--settings", str(settings_file), "serve", "--port", str(port), "--no-tls"]
    if not access_log:
        args.append("--no-access-log")
    with servers.process(args, port) as ready:
        yield ready


def bench_observability(work: Path) -> dict[str, Any]:
    json_logs = {"Format": "json"}
    settings = {
        "on": servers.bench_settings(work / "on", Logs=json_logs),
        "off": servers.bench_settings(work / "off", Logs=json_logs, Metrics={"Enabled": False}),
    }
    rounds: dict[str, list[Load]] = {"on": [], "off": []}
    for round_no in range(ROUNDS):
        with (
            _redhorn(settings["on"], access_log=True) as on,
            _redhorn(settings["off"], access_log=False) as off,
        ):
            ports = {"on": on, "off": off}
            headers = {**servers.FORWARDED, "Authorization": "Bearer " + servers.bearer_token(on)}
            order = ["on", "off"] if round_no % 2 == 0 else ["off", "on"]
            for name in order:
                url = f"http://127.0.0.1:{ports[name]}{PATH}"
                rounds[name].append(run_wrk(url, seconds=SECONDS, headers=headers))
    loads = {name: median_load(values) for name, values in rounds.items()}
    cost = 1 - loads["on"].requests_per_second / loads["off"].requests_per_second
    print(f"\n100-row page, access log and metrics on against off (median of {ROUNDS} rounds, wrk -c16)")
    print(f"  {'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, load in loads.items():
        label = f"redhorn (logs + metrics {name})"
        print(f"  {label:34} {load.requests_per_second:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")
    print(f"  {'cost (1 - on / off)':34} {cost:9.1%}   goal <= {GOAL:.0%}")
    return {
        "loads": {name: load.__dict__ for name, load in loads.items()},
        "rounds": {name: [load.requests_per_second for load in values] for name, values in rounds.items()},
        "cost": cost,
        "goal": GOAL,
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        bench_observability(Path(temporary))
