"""`redhorn pull` against a live server over TLS: every row once, in each format, resumed after a crash."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from redhorn.client import PullOptions, QuietReporter, Session, pull, pull_async
from redhorn.client.state import StateFile
from tests.client.conftest import credentials_for, normalized, number, source_rows, verify_for
from tests.conftest import DEMO_USER, Server, settings_document, start_server
from tests.processes import spawn, stop

pytestmark = pytest.mark.e2e
PASSWORD_ENV = "REDHORN_PULL_TEST_PASSWORD"


def ndjson_rows(path: Path) -> list[tuple[object, ...]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    from redhorn.client.session import DECODER

    return normalized([tuple(DECODER.decode(line).values()) for line in lines])


def cli(server: Server, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "redhorn",
        "pull",
        "--url",
        server.base_url,
        "--user",
        DEMO_USER[0],
        "--password-env",
        PASSWORD_ENV,
        "--company",
        "9999",
        "--ca-file",
        str(server.certificate),
        *args,
    ]


def run_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, PASSWORD_ENV: DEMO_USER[1]}
    return subprocess.run(cli(server, *args), capture_output=True, text=True, env=environment, timeout=100)


def test_a_pull_writes_every_row_once_as_ndjson(pull_server: Server, pull_data: Path, tmp_path: Path):
    options = PullOptions(out=tmp_path, page_size=150, parallel=2)
    outcomes = pull(credentials_for(pull_server), ["orders", "currencies"], options, verify=verify_for(pull_server))
    assert [(o.resource, o.ok) for o in outcomes] == [("orders", True), ("currencies", True)]
    for resource in ("orders", "currencies"):
        assert ndjson_rows(tmp_path / f"{resource}.ndjson") == source_rows(pull_data, resource)
    state = StateFile(tmp_path / "redhorn-pull-state.json").get("orders")
    assert (
        state is not None
        and state.phase == "done"
        and state.count == state.rows == len(source_rows(pull_data, "orders"))
    )


def test_csv_has_a_bom_a_header_rfc_4180_quoting_and_the_separator(
    pull_server: Server, pull_data: Path, tmp_path: Path
):
    result = run_cli(
        pull_server, "--out", str(tmp_path), "--format", "csv", "--separator", ";", "--page-size", "300", "associates"
    )
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "associates.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";")
    header, *rows = list(reader)
    with pull_server.client() as client:
        first = client.get("/api/9999/associates", params={"$top": "1"}).json()["value"][0]
    assert header == list(first)
    key = header.index("AssociateNo")
    expected = sorted(source_rows(pull_data, "associates"), key=lambda row: row[key])
    pulled = sorted(rows, key=lambda row: int(row[key]))
    assert len(pulled) == len(expected)
    for cells, values in zip(pulled, expected, strict=True):
        assert [cell_value(cell, value) for cell, value in zip(cells, values, strict=True)] == list(values)


def cell_value(cell: str, source: object) -> object:
    """A CSV cell read back as the type its source value has: numbers parsed, null as the empty cell."""
    if source is None:
        return None if cell == "" else cell
    if isinstance(source, int | float):
        return number(Decimal(cell))
    return cell


def test_parquet_holds_every_row_with_inferred_types(pull_server: Server, pull_data: Path, tmp_path: Path):
    options = PullOptions(out=tmp_path, format="parquet", page_size=400)
    [outcome] = pull(credentials_for(pull_server), ["orders"], options, verify=verify_for(pull_server))
    assert outcome.ok
    table = pq.read_table(tmp_path / "orders.parquet")
    assert str(table.schema.field("OrderNo").type) == "int64" and str(table.schema.field("Name").type) == "string"
    rows = [tuple(row.values()) for row in table.to_pylist()]
    assert normalized(rows) == source_rows(pull_data, "orders")
    assert not list(tmp_path.glob(".*spool*"))


def test_a_pull_that_crashed_after_page_2_resumes_without_duplicating_rows(
    pull_server: Server, pull_data: Path, tmp_path: Path
):
    def crash(resource: str, page: int) -> None:
        if page == 2:
            raise RuntimeError("simulated crash")

    options = PullOptions(out=tmp_path, page_size=300)
    with pytest.raises(ExceptionGroup):
        pull(
            credentials_for(pull_server),
            ["orders"],
            PullOptions(out=tmp_path, page_size=300, on_page=crash),
            verify=verify_for(pull_server),
        )
    state = StateFile(tmp_path / "redhorn-pull-state.json").get("orders")
    assert state is not None and state.rows == 600 and state.next_link
    with (tmp_path / "orders.ndjson").open("ab") as torn:  # a page written but never committed
        torn.write(b'{"OrderNo": 1, "half a row')
    [outcome] = pull(credentials_for(pull_server), ["orders"], options, verify=verify_for(pull_server))
    assert outcome.ok and outcome.rows == len(source_rows(pull_data, "orders"))
    assert ndjson_rows(tmp_path / "orders.ndjson") == source_rows(pull_data, "orders")


def test_a_pull_process_killed_mid_way_resumes_to_exactly_the_rows_once(
    pull_server: Server, pull_data: Path, tmp_path: Path
):
    environment = {**os.environ, PASSWORD_ENV: DEMO_USER[1]}
    args = cli(pull_server, "--out", str(tmp_path), "--page-size", "5", "--quiet", "orders")
    process = spawn(args, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = tmp_path / "redhorn-pull-state.json"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if state_file.exists() and json.loads(state_file.read_text())["resources"]["orders"]["rows"] >= 50:
                break
            time.sleep(0.02)
    finally:
        stop(process)
    saved = StateFile(state_file).get("orders")
    assert saved is not None and saved.phase == "paging" and 50 <= saved.rows < len(source_rows(pull_data, "orders"))
    result = run_cli(pull_server, "--out", str(tmp_path), "--page-size", "500", "orders")
    assert result.returncode == 0, result.stderr
    assert f"resuming after {saved.rows:,} rows" in result.stdout
    assert ndjson_rows(tmp_path / "orders.ndjson") == source_rows(pull_data, "orders")


def test_a_400_stops_that_resource_with_the_servers_message_and_exit_code_1(pull_server: Server, tmp_path: Path):
    result = run_cli(pull_server, "--out", str(tmp_path), "--filter", "Foo eq 1", "orders")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "redhorn pull: orders: 400 InvalidQuery: Unknown property 'Foo' of 'orders' at position 0"
    ]


def test_without_a_terminal_there_is_no_bar_but_one_summary_line_per_resource(pull_server: Server, tmp_path: Path):
    result = run_cli(pull_server, "--out", str(tmp_path), "--page-size", "500", "currencies", "orders")
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert lines == [
        f"currencies: 6 rows to {tmp_path / 'currencies.ndjson'}",
        f"orders: 2,000 rows to {tmp_path / 'orders.ndjson'}",
    ]
    assert "\x1b[" not in result.stdout + result.stderr


def test_a_wrong_password_fails_in_one_line_without_the_password(pull_server: Server, tmp_path: Path):
    environment = {**os.environ, PASSWORD_ENV: "not-the-password"}
    result = subprocess.run(
        cli(pull_server, "--out", str(tmp_path), "orders"), capture_output=True, text=True, env=environment, timeout=60
    )
    assert result.returncode == 1
    assert (
        result.stderr == "redhorn pull: login as 'demo' failed: 400 invalid_grant: The username or password is wrong\n"
    )


def test_usage_errors_exit_with_2(pull_server: Server, tmp_path: Path):
    missing = subprocess.run(
        cli(pull_server, "orders"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV},
    )
    assert missing.returncode == 2 and "--password-env" in missing.stderr
    bad_mirror = run_cli(pull_server, "--mirror", str(tmp_path / "m.txt"), "orders")
    assert bad_mirror.returncode == 2 and "name a .sqlite, .db or .duckdb file" in bad_mirror.stderr
    no_resource = run_cli(pull_server)
    assert no_resource.returncode == 2


@pytest.fixture(scope="module")
def short_token_server(tmp_path_factory: pytest.TempPathFactory, pull_data: Path):
    folder = tmp_path_factory.mktemp("short-tokens")
    document = settings_document(
        pull_data, Tokens={"SigningKey": "test-signing-key-0123456789abcdef", "LifetimeSeconds": 2}
    )
    with start_server(folder, document) as server:
        yield server


async def test_the_token_is_renewed_during_a_long_pull(short_token_server: Server, pull_data: Path, tmp_path: Path):
    pauses = []

    def slow(resource: str, page: int) -> None:
        pauses.append(page)
        time.sleep(0.4)

    options = PullOptions(out=tmp_path, page_size=200, on_page=slow)
    async with Session(credentials_for(short_token_server), verify=verify_for(short_token_server)) as session:
        [outcome] = await pull_async(session, ["orders"], options, QuietReporter())
    assert outcome.ok and len(pauses) == 10
    assert session.logins >= 3  # renewed every second of a four-second pull
    assert ndjson_rows(tmp_path / "orders.ndjson") == source_rows(pull_data, "orders")
