"""Two redhorn hosts behind nginx, sharing one Redis: they answer as one server.

Real processes throughout, each on a free loopback port and in a temporary folder: `redis-server`
(no persistence), two `redhorn serve` hosts over TLS with the same settings and `Cluster.RedisUrl`,
and nginx terminating TLS with the test certificate and balancing round-robin over the hosts'
HTTPS ports. Every answer through nginx names the host that gave it (`X-Upstream`), so each test
shows the second request landing on the other host. The tests run in the file's order: the last
stops Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.licensing.licence import generate_key, issue_licence, load_private_key, load_public_key
from redhorn.tools.demo.build import build_demo
from tests.conftest import DEMO_USER, TEST_SCALE, Server, free_port, settings_document, start_server
from tests.processes import spawn, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("redis-server") is None
        or shutil.which("nginx", path=os.pathsep.join(["/usr/sbin", "/usr/bin"])) is None,
        reason="redis-server and nginx are not installed (Debian: redis-server nginx; make test installs them)",
    ),
]

VICTIM = ("victim", "victim-password")
REDIS_PASSWORD = "cluster-redis-secret-4f1e"
MAX_FAILED_LOGINS = 4


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text(errors='replace')}")


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A Redis of the test's own: loopback, a free port, nothing written to disk."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "redis.log"
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--daemonize", "no", "--logfile", "", "--requirepass", REDIS_PASSWORD]
    with log.open("wb") as output:
        process = spawn(args, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield port, process
    finally:
        stop(process)


NGINX_CONFIG = """
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream redhorn {{
        server 127.0.0.1:{first};
        server 127.0.0.1:{second};
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass https://redhorn;
            proxy_ssl_verify off;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_next_upstream off;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(folder: Path, upstreams: tuple[int, int], certificate: Path, key: Path) -> Iterator[int]:
    """nginx on a free port over TLS, round-robin to the two hosts' HTTPS ports."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "nginx.conf"
    # As root nginx would run its worker as `nobody`, which cannot enter the test's private folder.
    user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    config.write_text(
        NGINX_CONFIG.format(
            user=user,
            folder=folder,
            first=upstreams[0],
            second=upstreams[1],
            port=port,
            certificate=certificate,
            key=key,
        )
    )
    binary = shutil.which("nginx", path=os.pathsep.join(["/usr/sbin", "/usr/bin"]))
    assert binary is not None
    log = folder / "error.log"
    with (folder / "stdout.log").open("wb") as output:
        process = spawn(
            [binary, "-p", str(folder), "-c", str(config), "-e", str(log)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, folder / "stdout.log")
        yield port
    finally:
        stop(process)


@dataclass
class Cluster:
    base_url: str
    certificate: Path
    hosts: tuple[Server, Server]
    redis: subprocess.Popen[bytes]
    licence_files: tuple[Path, Path]
    issuer: dict[str, Any]
    licence_port: int
    folder: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("auth", DEMO_USER)
        verify = ssl.create_default_context(cafile=str(self.certificate))
        return httpx.Client(base_url=self.base_url, verify=verify, timeout=30, **kwargs)

    def upstream_ports(self) -> set[str]:
        return {host.base_url.rsplit(":", 1)[1] for host in self.hosts}


def upstream(response: httpx.Response) -> str:
    """The port of the host that answered through nginx."""
    return response.headers["x-upstream"].rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    data = folder / "data"
    build_demo(data, scale=TEST_SCALE)  # the hosts write: data of their own
    private, public = generate_key()
    (folder / "issuer.pem").write_bytes(private)
    (folder / "issuer.pem.pub").write_bytes(public)
    issuer: dict[str, Any] = {"folder": folder, "key": load_private_key(private), "public": load_public_key(public)}
    licence_text = issue_licence(load_private_key(private), "ACME", days=10)  # due: renewed 30 days before expiry
    licence_port = free_port()
    licence_files = (folder / "first.lic", folder / "second.lic")  # a file per host, as on two machines
    with redis_server(folder / "redis") as (redis_port, redis):
        documents = []
        # The first host checks the schema every second; the second never does by itself, so only
        # the first host's news can tell it of a change.
        for licence, schema_check in zip(licence_files, (1, 0), strict=True):
            licence.write_text(licence_text + "\n")
            document = settings_document(
                data,
                Query={"MaxPageSize": 1000, "SchemaCheckSeconds": schema_check},
                Cluster={"RedisUrl": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0", "RedisTimeoutSeconds": 1},
                Authentication={"MaxFailedLogins": MAX_FAILED_LOGINS, "MaxFailedLoginsPerAddress": 1000},
                ApiLicence={
                    "LicenceFilePath": str(licence),
                    "IssuerPublicKey": str(folder / "issuer.pem.pub"),
                    "LicenceServiceBaseUrl": f"http://127.0.0.1:{licence_port}",
                    "CheckIntervalSeconds": 1,
                    "RetrySeconds": 0.5,
                    "RequestTimeoutSeconds": 2,
                },
            )
            document["ApiUsers"].append(
                {"Username": VICTIM[0], "Password": VICTIM[1], "AccessibleCompanies": [{"CompanyNo": 9999}]}
            )
            documents.append(document)
        with (
            start_server(folder / "first", documents[0]) as first,
            start_server(folder / "second", documents[1]) as second,
        ):
            ports = (int(first.base_url.rsplit(":", 1)[1]), int(second.base_url.rsplit(":", 1)[1]))
            with nginx(folder / "nginx", ports, first.certificate, folder / "first" / "key.pem") as port:
                yield Cluster(
                    f"https://127.0.0.1:{port}",
                    first.certificate,
                    (first, second),
                    redis,
                    licence_files,
                    issuer,
                    licence_port,
                    folder,
                )


def test_an_idempotent_post_retried_on_the_other_host_is_replayed(cluster: Cluster):
    body = {"Name": "Once, whichever host"}
    headers = {"Idempotency-Key": "cluster-replay-1"}
    with cluster.client() as client:
        first = client.post("/api/9999/associates", json=body, headers=headers)
        assert first.status_code == 201, first.text
        retries = [client.post("/api/9999/associates", json=body, headers=headers) for _ in range(3)]
        found = client.get("/api/9999/associates", params={"$filter": "Name eq 'Once, whichever host'"})
    other_host = [retry for retry in retries if upstream(retry) != upstream(first)]
    assert other_host, "round-robin sends a retry to the other host"
    for retry in retries:
        assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
        assert retry.content == first.content and retry.headers["location"] == first.headers["location"]
    assert len(found.json()["value"]) == 1, "written once"


def test_a_token_from_one_host_is_accepted_by_the_other(cluster: Cluster):
    form = {"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]}
    with cluster.client(auth=None) as client:
        issued = client.post("/api/oauth/token", data=form)
        assert issued.status_code == 200
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        answers = [client.get("/api/9999/orders?$top=2", headers=bearer) for _ in range(4)]
        nxt = answers[0].json().get("@odata.nextLink")
    assert all(answer.status_code == 200 for answer in answers)
    assert {upstream(answer) for answer in answers} == cluster.upstream_ports()
    assert nxt is None or "$skiptoken" in nxt


def test_failed_logins_are_counted_across_both_hosts(cluster: Cluster):
    wrong = {"grant_type": "password", "username": VICTIM[0], "password": "guess"}
    with cluster.client(auth=None) as client:
        failures = [client.post("/api/oauth/token", data=wrong) for _ in range(MAX_FAILED_LOGINS)]
        right = client.post("/api/oauth/token", data=wrong | {"password": VICTIM[1]})
        again = client.post("/api/oauth/token", data=wrong | {"password": VICTIM[1]})
    assert [failure.status_code for failure in failures] == [400] * MAX_FAILED_LOGINS
    assert {upstream(failure) for failure in failures} == cluster.upstream_ports(), "spread over both hosts"
    for refused in (right, again):  # neither host saw more than half the failures itself
        assert refused.status_code == 429 and refused.json()["error"] == "invalid_grant"
        assert int(refused.headers["retry-after"]) > 0
    assert {upstream(right), upstream(again)} == cluster.upstream_ports()


@contextlib.contextmanager
def licence_service(cluster: Cluster, log: Path) -> Iterator[None]:
    args = [sys.executable, "-m", "redhorn", "licence", "serve", "--key", str(cluster.folder / "issuer.pem")]
    args += ["--port", str(cluster.licence_port), "--days", "365", "--log-level", "info"]
    with log.open("ab") as output:
        process = spawn(args, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(cluster.licence_port, process, log)
        yield
    finally:
        stop(process)


def days_left(host: Server) -> float:
    with host.client() as client:
        return float(client.get("/health").json()["licence"]["daysLeft"])


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the condition did not come true in time")


def test_one_host_renews_the_licence_for_both(cluster: Cluster):
    assert all(days_left(host) < 11 for host in cluster.hosts)
    log = cluster.folder / "licence-service.log"
    with licence_service(cluster, log):  # both hosts have been failing to reach it: they race now
        wait_for(lambda: all(days_left(host) > 300 for host in cluster.hosts))
        time.sleep(3)  # three more rounds of checks: nobody renews again
    renewals = [line for line in log.read_text().splitlines() if "POST /api/licences/renew" in line]
    assert len([line for line in renewals if " 200" in line]) == 1, renewals
    texts = {path.read_text() for path in cluster.licence_files}
    assert len(texts) == 1, "the other host took the renewed licence into its own file"
    logs = cluster.hosts[0].log() + cluster.hosts[1].log()
    assert "renewed by another host" in logs


def test_a_schema_change_one_host_sees_reaches_the_other_at_once(cluster: Cluster):
    """A table added while both serve: the host that checks finds it and tells the one that never checks."""
    listener = cluster.hosts[1]
    with listener.client() as client:
        assert client.get("/api/9999/RhClusterProbe").status_code == 404
    with contextlib.closing(sqlite3.connect(cluster.folder / "data" / "F9999.db", isolation_level=None)) as db:
        db.execute('CREATE TABLE "RhClusterProbe" ("ProbeNo" INTEGER PRIMARY KEY, "Nm" TEXT)')
        db.execute("INSERT INTO \"RhClusterProbe\" VALUES (1, 'Heard of')")

    def served() -> bool:
        with listener.client() as client:
            return client.get("/api/9999/RhClusterProbe").status_code == 200

    wait_for(served, seconds=20)
    with listener.client() as client:
        assert client.get("/api/9999/RhClusterProbe").json()["value"] == [{"ProbeNo": 1, "Nm": "Heard of"}]
    assert "Another host saw a schema change" in listener.log()
    assert "Another host saw a schema change" not in cluster.hosts[0].log(), "a host ignores its own news"


def test_without_redis_keyed_writes_answer_503_and_reads_go_on(cluster: Cluster):
    with cluster.client() as client:
        form = {"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]}
        bearer = {"Authorization": "Bearer " + client.post("/api/oauth/token", data=form).json()["access_token"]}
        stop(cluster.redis)
        writes = [
            client.post(
                "/api/9999/associates", json={"Name": "Not now"}, headers={"Idempotency-Key": f"redis-down-{n}"}
            )
            for n in range(2)
        ]
        reads = [client.get("/api/9999/orders?$top=1", headers=bearer) for _ in range(2)]
    with cluster.client(auth=None) as anonymous:
        logins = [anonymous.post("/api/oauth/token", data=form) for _ in range(2)]
    for write in writes:
        assert write.status_code == 503 and write.headers["retry-after"]
        error = write.json()["error"]
        assert error["code"] == "WriterUnavailable" and error["target"] == "Idempotency-Key"
        assert "127.0.0.1" not in error["message"], "no address of Redis in answers"
    assert {upstream(write) for write in writes} == cluster.upstream_ports()
    assert [read.status_code for read in reads] == [200, 200]
    assert [login.status_code for login in logins] == [200, 200], "counted per process meanwhile"
    logs = cluster.hosts[0].log() + cluster.hosts[1].log()
    assert "Failed logins are counted by this process alone" in logs
    assert REDIS_PASSWORD not in logs and all(REDIS_PASSWORD not in write.text for write in writes)
