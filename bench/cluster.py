"""Scaling out: the 100-row page from two workers against one, and from two hosts behind nginx against one.

Each contender serves plain HTTP behind the trusted-proxy header, as the page section's
`redhorn (http, bearer)` does, with a bearer token (no login is counted, nothing touches Redis on
the read path). The two hosts share a Redis of their own (`Cluster.RedisUrl`), as they would in
production, and nginx balances them round-robin with keep-alive connections upstream. Every round
starts fresh processes, and each round begins with another contender; the figures are medians.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import servers
from bench.servers import bearer_token
from bench.wrk import Load, median_load, run_wrk

ROUNDS = 5
PATH = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
ONE = "one worker"
TWO_WORKERS = "two workers (--workers 2)"
TWO_HOSTS = "two hosts behind nginx"

NGINX_CONFIG = """
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream redhorn {{
        server 127.0.0.1:{first};
        server 127.0.0.1:{second};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://redhorn;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""


@contextlib.contextmanager
def redhorn(settings_file: Path, workers: int = 1) -> Iterator[int]:
    port = servers.free_port()
    args = [str(servers.BIN / "redhorn"), "--settings", str(settings_file), "serve", "--port", str(port)]
    args += ["--no-access-log", "--log-level", "warning", "--no-tls", "--workers", str(workers)]
    with servers.process(args, port) as ready:
        if workers > 1:
            time.sleep(1.0)  # every worker up, not only the first
        yield ready


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[int]:
    port = servers.free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--daemonize", "no"]
    with servers.process(args, port) as ready:
        yield ready


@contextlib.contextmanager
def nginx(folder: Path, first: int, second: int) -> Iterator[int]:
    binary = shutil.which("nginx", path=os.pathsep.join(["/usr/sbin", "/usr/bin"]))
    if binary is None:
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx)")
    port = servers.free_port()
    user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(user=user, folder=folder, first=first, second=second, port=port))
    with servers.process(
        [binary, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")], port
    ) as ready:
        yield ready


def bench_cluster(work: Path) -> dict[str, Any]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    local = servers.bench_settings(work / "cluster-local")
    rounds: dict[str, list[Load]] = {}
    for round_no in range(ROUNDS):
        with tempfile.TemporaryDirectory(dir=work) as temporary:
            folder = Path(temporary)
            with redis_server(folder) as redis_port:
                shared = servers.bench_settings(
                    folder / "shared", Cluster={"RedisUrl": f"redis://127.0.0.1:{redis_port}/0"}
                )
                with (
                    redhorn(local) as one,
                    redhorn(local, workers=2) as two,
                    redhorn(shared) as first,
                    redhorn(shared) as second,
                    nginx(folder, first, second) as balancer,
                ):
                    bearer = "Bearer " + bearer_token(one)
                    headers = {**servers.FORWARDED, "Authorization": bearer}
                    urls = {
                        ONE: f"http://127.0.0.1:{one}{PATH}",
                        TWO_WORKERS: f"http://127.0.0.1:{two}{PATH}",
                        TWO_HOSTS: f"http://127.0.0.1:{balancer}{PATH}",
                    }
                    names = list(urls)
                    for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
                        load = run_wrk(urls[name], headers=headers)
                        if load.errors:
                            raise SystemExit(f"{name}: {load.errors} errors")
                        rounds.setdefault(name, []).append(load)
    loads = {name: median_load(values) for name, values in rounds.items()}
    print(f"\n100-row page, scaled out (median of {ROUNDS} rounds, wrk -c16, {os.cpu_count()} cores)")
    print(f"  {'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, load in loads.items():
        print(f"  {name:34} {load.requests_per_second:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f}")
    ratios = {
        "two workers / one": loads[TWO_WORKERS].requests_per_second / loads[ONE].requests_per_second,
        "two hosts behind nginx / one host": loads[TWO_HOSTS].requests_per_second / loads[ONE].requests_per_second,
    }
    for name, ratio in ratios.items():
        print(f"  {name:34} {ratio:9.2f}")
    return {"loads": {name: load.__dict__ for name, load in loads.items()}, "ratios": ratios}


if __name__ == "__main__":
    (servers.ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        bench_cluster(Path(scratch))
