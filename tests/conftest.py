from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.application import create_app
from redhorn.server.tls import make_development_certificate
from redhorn.settings import Settings, environment_overrides, parse_settings
from redhorn.tools.demo.build import build_demo

pytest.register_assert_rewrite("tests.processes", "tests.mssql")
pytest_plugins = ["tests.processes", "tests.mssql"]

from tests.mssql import MSSQL_ENGINES, is_mssql, mssql_connection_string, mssql_sections  # noqa: E402
from tests.processes import spawn, stop  # noqa: E402  (after its registration as a plugin)

TEST_SCALE = 0.01  # 2,000 orders, 10,000 order lines: fast to build, big enough to page through
DEMO_USER = ("demo", "demo-password")


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


ENGINES = ["sqlite", "odbc"]
ODBC_DRIVER = "SQLite3"


def connection_string(data_folder: Path, engine: str = "sqlite") -> str:
    """The embedded engine's connection string, or the ODBC one reaching the same files through
    the SQLite ODBC driver (the aioodbc engine, as production runs it against SQL Server)."""
    if is_mssql(engine):
        return mssql_connection_string()  # REDHORN_TEST_MSSQL: see tests/mssql.py
    if engine == "odbc":
        return f"Driver={ODBC_DRIVER};Database={data_folder}/{{database}}.db"
    return f"Engine=sqlite;Data Source={data_folder}"


def require_odbc_driver() -> None:
    """Skip without the SQLite ODBC driver on a developer's machine; in CI its absence fails."""
    import pyodbc

    if ODBC_DRIVER not in pyodbc.drivers():
        message = (
            f"ODBC driver {ODBC_DRIVER!r} is not installed (Debian: unixodbc libsqliteodbc; make test installs it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def settings_document(data_folder: Path, engine: str = "sqlite", **sections: Any) -> dict[str, Any]:
    """A settings file's content for tests, reading `data_folder` through `engine`."""
    document: dict[str, Any] = {
        "VismaConnection": {"VismaDbConnectionString": connection_string(data_folder, engine)},
        "ApiUsers": [
            {
                "Username": DEMO_USER[0],
                "Password": DEMO_USER[1],
                "AllowAccessToSysDb": True,
                "AllowAccessToCatalogDb": True,
                # 4242 is listed but does not exist: the demo user is told so (404); others get 403.
                "AccessibleCompanies": [{"CompanyNo": 9999}, {"CompanyNo": 1}, {"CompanyNo": 4242}],
            }
        ],
        "Query": {"MaxPageSize": 1000},
        "Tokens": {"SigningKey": "test-signing-key-0123456789abcdef"},
    }
    return deep_merge(deep_merge(document, mssql_sections(engine)), sections)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's real settings through the environment."""
    monkeypatch.delenv("REDHORN_SETTINGS", raising=False)
    # Nor its overrides (`Query__MaxPageSize`, ...): a test sets its own, and the servers it starts
    # inherit only those.
    for variable, _ in environment_overrides(os.environ):
        monkeypatch.delenv(variable)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    build_demo(folder, scale=TEST_SCALE)
    return folder


@pytest.fixture(scope="session", params=[*ENGINES, *MSSQL_ENGINES])
def engine(request: pytest.FixtureRequest) -> str:
    """Each test of the read suite runs once per engine: aiosqlite, and aioodbc over ODBC (and, with
    REDHORN_TEST_MSSQL set, against that SQL Server twice: see tests/mssql.py)."""
    if request.param == "odbc":
        require_odbc_driver()
    if is_mssql(request.param):
        request.getfixturevalue("mssql_demo")
    return str(request.param)


@pytest.fixture(scope="session")
def settings_factory(demo_folder: Path, engine: str):
    def make(**sections: Any) -> Settings:
        return parse_settings(json.dumps(settings_document(demo_folder, engine, **sections)))

    return make


@contextlib.asynccontextmanager
async def running_client(
    settings: Settings,
    root: Path,
    *,
    raise_app_exceptions: bool = True,
    auth: tuple[str, str] | None = DEMO_USER,
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client for an app built from `settings`, its lifespan running, as the demo user."""
    app = create_app(settings, root=root)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver", auth=auth) as client:
            yield client


@pytest.fixture(scope="session")
async def client(settings_factory, demo_folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(settings_factory(), demo_folder) as client:
        yield client


@pytest.fixture(scope="session")
def company_db(demo_folder: Path) -> Path:
    return demo_folder / "F9999.db"


BASIC_DEMO = b"Basic " + base64.b64encode(":".join(DEMO_USER).encode())


def http_scope(
    method: str, path: bytes, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """An ASGI HTTP scope over TLS as a server would build it, for calling an app with raw bytes."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path.decode("utf-8", "replace"),
        "raw_path": path,
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 443),
        "root_path": "",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A real `redhorn serve` process over TLS on 127.0.0.1."""

    base_url: str
    certificate: Path
    process: subprocess.Popen[bytes]
    log_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client that trusts the server's certificate; Basic as the demo user unless `auth` says otherwise."""
        kwargs.setdefault("auth", DEMO_USER)
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextlib.contextmanager
def start_server(folder: Path, document: dict[str, Any], *extra_args: str, tls: bool = True) -> Iterator[Server]:
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "cert.pem", folder / "key.pem"
    if not certificate.exists():
        make_development_certificate(certificate, key)
    port = free_port()
    document = deep_merge(document, {"Server": {"CertificateFile": str(certificate), "KeyFile": str(key)}})
    settings_file = folder / "appsettings.json"
    settings_file.write_text(json.dumps(document, indent=2))
    log_file = folder / f"server-{port}.log"
    args = [sys.executable, "-m", "redhorn", "--settings", str(settings_file), "serve", "--port", str(port)]
    if not tls:
        args.append("--no-tls")
    env = {key: value for key, value in os.environ.items() if not key.startswith("REDHORN_")}
    with log_file.open("wb") as log:
        process = spawn([*args, *extra_args], stdout=log, stderr=subprocess.STDOUT, env=env)
    scheme = "https" if tls else "http"
    server = Server(f"{scheme}://127.0.0.1:{port}", certificate, process, log_file)
    try:
        _wait_until_ready(server, tls)
        yield server
    finally:
        stop(process)


def _wait_until_ready(server: Server, tls: bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), timeout=0.5):
                pass
            if "Application startup complete" in server.log():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path, engine: str) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"server-{engine}")
    with start_server(folder, settings_document(demo_folder, engine)) as running:
        yield running
