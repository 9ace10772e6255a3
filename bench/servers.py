"""Start and stop the processes a benchmark compares, each on its own loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def process(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    log = open(ROOT / "bench" / "results" / f"server-{port}.log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=ROOT)
    try:
        wait_for_port(port, proc)
        time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


BENCH_USER = ("bench", "bench-password")
FORWARDED = {"X-Forwarded-Proto": "https"}


def bearer_token(port: int) -> str:
    """A token for the bench user from a redhorn on plain HTTP behind the trusted-proxy header."""
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{port}/api/oauth/token",
        data={"grant_type": "password", "username": BENCH_USER[0], "password": BENCH_USER[1]},
        headers=FORWARDED,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def bench_settings(folder: Path, **sections: Any) -> Path:
    """A settings file for benchmarks: the demo data, loopback trusted as a TLS proxy for plain HTTP."""
    document: dict[str, Any] = {
        "VismaConnection": {"VismaDbConnectionString": f"Engine=sqlite;Data Source={ROOT / 'data'}"},
        "ApiUsers": [
            {
                "Username": BENCH_USER[0],
                "Password": BENCH_USER[1],
                "AllowAccessToSysDb": True,
                "AllowAccessToCatalogDb": True,
                "AccessibleCompanies": [{"CompanyNo": 9999}],
            }
        ],
        "Server": {
            "TrustedProxies": ["127.0.0.1"],
            "CertificateFile": str(ROOT / "config" / "dev-cert.pem"),
            "KeyFile": str(ROOT / "config" / "dev-key.pem"),
        },
        "Tokens": {"SigningKey": "bench-signing-key-0123456789abcdef"},
    }
    document.update(sections)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench-appsettings.json"
    path.write_text(json.dumps(document, indent=2))
    return path


@contextlib.contextmanager
def redhorn(settings_file: Path, *, tls: bool) -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "redhorn"), "--settings", str(settings_file), "serve", "--port", str(port)]
    args += ["--no-access-log", "--log-level", "warning"]
    if not tls:
        args.append("--no-tls")
    with process(args, port) as ready:
        yield ready


@contextlib.contextmanager
def redhorn_without_authentication(settings_file: Path) -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.noauth:app", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    args += ["--no-proxy-headers", "--no-server-header"]
    with process(args, port, env={"REDHORN_SETTINGS": str(settings_file)}) as ready:
        yield ready


@contextlib.contextmanager
def floor() -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.floor:app", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    with process(args, port, env={"DATA": str(ROOT / "data" / "F9999.db")}) as ready:
        yield ready


# How redhorn serves (`redhorn serve`): httptools, uvicorn's default loop, one worker, no server header,
# forwarded headers not read by uvicorn; the hand-written contenders of the page are served alike.
UVICORN_AS_REDHORN = ["--http", "httptools", "--no-server-header", "--no-proxy-headers"]


@contextlib.contextmanager
def limit_floor() -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.limit_floor:app", "--port", str(port), "--no-access-log"]
    args += ["--log-level", "warning", *UVICORN_AS_REDHORN]
    with process(args, port, env={"DATA": str(ROOT / "data" / "F9999.db")}) as ready:
        yield ready


@contextlib.contextmanager
def fastapi_peer() -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.fastapi_peer:app", "--port", str(port), "--no-access-log"]
    args += ["--log-level", "warning", *UVICORN_AS_REDHORN]
    with process(args, port, env={"DATA": str(ROOT / "data" / "F9999.db")}) as ready:
        yield ready


@contextlib.contextmanager
def write_floor(database: Path) -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.write_floor:app", "--port", str(port), "--no-access-log"]
    args += ["--log-level", "warning"]
    with process(args, port, env={"DATA": str(database)}) as ready:
        yield ready


@contextlib.contextmanager
def datasette(database: Path) -> Iterator[int]:
    port = free_port()
    args = [str(BIN / "datasette"), "serve", str(database), "--port", str(port), "--host", "127.0.0.1"]
    args += ["--setting", "suggest_facets", "off", "--setting", "default_facet_size", "0"]
    with process(args, port) as ready:
        yield ready
