"""Finding 22: what goes wrong at startup, on the command line or on the way to a database or to VBS
is said in one line naming the file, key or address and what to do, never as a traceback."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn import errors as write_errors
from redhorn.application import create_licence_keeper
from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.cli import build_parser
from redhorn.engines.connect import create_engine, odbc_connection_string
from redhorn.errors import DatabaseUnavailable
from redhorn.licensing.licence import generate_key, issue_licence, load_private_key
from redhorn.server.tls import make_development_certificate
from redhorn.settings import parse_settings
from redhorn.sql.statement import Statement
from redhorn.writers.model import AddRows, Assign, RowWrite, WriteContext, WriteRequest
from redhorn.writers.vbs import VbsTransport
from tests.conftest import free_port, settings_document

SECRET = "hunter2-do-not-log"


def run_redhorn(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m redhorn ARGS` as a user runs it, without the developer's REDHORN_* environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REDHORN_")}
    return subprocess.run([sys.executable, "-m", "redhorn", *args], capture_output=True, text=True, timeout=60, env=env)


def write_settings(folder: Path, demo_folder: Path, **sections: Any) -> Path:
    """A settings file in `folder` reading the demo databases."""
    settings_file = folder / "appsettings.json"
    settings_file.write_text(json.dumps(settings_document(demo_folder, **sections), indent=2))
    return settings_file


def tls_settings(folder: Path, demo_folder: Path, certificate: Path, key: Path) -> Path:
    return write_settings(folder, demo_folder, Server={"CertificateFile": str(certificate), "KeyFile": str(key)})


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit code 2 and said why in exactly one line on stderr."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("redhorn: "), output
    return lines[0]


def warnings_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """The lines at WARNING or above that `logger` (or a child of it) wrote."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and (record.name == logger or record.name.startswith(logger + "."))
    ]


# 1, 2: the certificate and its key


def test_a_missing_key_file_is_named_not_reported_as_a_missing_certificate(tmp_path: Path, demo_folder: Path):
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_development_certificate(certificate, key)
    missing_key = tmp_path / "no-such-key.pem"
    line = one_error_line(
        run_redhorn("--settings", str(tls_settings(tmp_path, demo_folder, certificate, missing_key)), "serve")
    )
    assert str(missing_key) in line and "Server.KeyFile" in line and "redhorn dev-cert" in line
    assert "certificate" not in line.lower().split(";")[0], "the certificate is there; the key is what is missing"


def test_a_key_that_does_not_match_its_certificate_names_both_files_before_serving(tmp_path: Path, demo_folder: Path):
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_development_certificate(certificate, key)
    other_key = tmp_path / "other-key.pem"
    make_development_certificate(tmp_path / "other-cert.pem", other_key)
    result = run_redhorn("--settings", str(tls_settings(tmp_path, demo_folder, certificate, other_key)), "serve")
    line = one_error_line(result)
    assert str(certificate) in line and str(other_key) in line and "does not match" in line
    assert "redhorn serves" not in result.stdout, "checked before the server starts"


# 3: a company number that is not one


def test_a_bad_company_number_in_licence_issue_is_named_in_one_line(tmp_path: Path):
    key = tmp_path / "issuer.pem"
    key.write_bytes(generate_key()[0])
    out = tmp_path / "acme.lic"
    args = ("licence", "issue", "--key", str(key), "--licensee", "ACME", "--companies", "9999,abc", "--out", str(out))
    line = one_error_line(run_redhorn(*args))
    assert "'abc'" in line and "--companies" in line
    assert not out.exists()


# 4: a port another program listens on


def test_a_busy_port_is_named_before_the_login_banner(tmp_path: Path, demo_folder: Path):
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_development_certificate(certificate, key)
    settings_file = tls_settings(tmp_path, demo_folder, certificate, key)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run_redhorn(
            "--settings", str(settings_file), "serve", "--host", "127.0.0.1", "--port", str(port), "--show-login"
        )
    line = one_error_line(result)
    assert f"127.0.0.1:{port}" in line and "in use" in line and "--port" in line
    assert "Log in as" not in result.stdout and "redhorn serves" not in result.stdout


# 5: --settings after the subcommand


SUBCOMMANDS = [
    ["serve"],
    ["demo"],
    ["dev-cert"],
    ["hash-password"],
    ["licence", "keygen", "--out", "k.pem"],
    ["licence", "issue", "--key", "k.pem", "--licensee", "X", "--out", "x.lic"],
    ["licence", "serve", "--key", "k.pem"],
    ["licence", "demo"],
    ["vbs-emulator"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=[" ".join(command[:2]) for command in SUBCOMMANDS])
def test_settings_is_accepted_after_every_subcommand_as_well_as_before(command: list[str]):
    parser = build_parser()
    assert parser.parse_args([*command, "--settings", "after.json"]).settings == "after.json"
    assert parser.parse_args(["--settings", "before.json", *command]).settings == "before.json"
    assert parser.parse_args(command).settings is None


def test_serve_reads_the_settings_file_given_after_it(tmp_path: Path, demo_folder: Path):
    certificate = tmp_path / "named-in-this-file.pem"
    settings_file = tls_settings(tmp_path, demo_folder, certificate, tmp_path / "key.pem")
    line = one_error_line(run_redhorn("serve", "--settings", str(settings_file)))
    assert str(certificate) in line, "the settings file given after 'serve' was read"


# 6: the ODBC driver's own words


async def test_a_sql_server_connection_error_logs_the_drivers_text_not_the_connection_string(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    pytest.importorskip("aioodbc")
    text = f"Driver={{No Such Driver 99}};Server=sql01;UID=redhorn_ro;PWD={SECRET};Encrypt=yes"
    settings = parse_settings(json.dumps({"VismaConnection": {"VismaDbConnectionString": text}}))
    engine = create_engine(settings, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="redhorn"), pytest.raises(DatabaseUnavailable):
            await engine.fetch("vbsys", Statement("SELECT 1"))
    finally:
        await engine.close()
    lines = warnings_of(caplog, "redhorn.engines")
    assert lines and all("\n" not in line for line in lines)
    assert all("'vbsys'" in line and "Can't open lib 'No Such Driver 99'" in line for line in lines), lines
    assert not any(SECRET in line or "UID=" in line or "redhorn_ro" in line for line in lines), lines


def test_a_driver_message_that_echoes_the_password_is_logged_without_it():
    pyodbc = pytest.importorskip("pyodbc")
    from redhorn.engines.odbc import connection_secrets, driver_message

    dsn = f"Driver={{ODBC Driver 18 for SQL Server}};Server=sql01;UID=ro;PWD={{{SECRET}}}"
    echoed = pyodbc.Error("28000", f"[28000] Login failed for user 'ro'\n(password {SECRET})")
    assert driver_message(echoed, connection_secrets(dsn)) == "[28000] Login failed for user 'ro' (password ***)"


# 7: ADO.NET keys


@pytest.mark.parametrize("value", ["true", "True", "yes", "SSPI"])
def test_trusted_connection_in_an_ado_net_string_becomes_odbc_trusted_connection(value: str):
    text = f"Data Source=sql01;Initial Catalog=F9999;Trusted_Connection={value}"
    expected = "driver={ODBC Driver 18 for SQL Server};server=sql01;trusted_connection=yes;database=F9999"
    assert odbc_connection_string(text, Path("/srv"))("F9999") == expected


def test_an_ado_net_key_that_is_not_translated_is_named_in_one_warning_never_its_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    pytest.importorskip("aioodbc")
    text = f"Data Source=sql01;Initial Catalog=F9999;Trusted_Connection=yes;Workstation ID={SECRET};Pooling=false"
    settings = parse_settings(json.dumps({"VismaConnection": {"VismaDbConnectionString": text}}))
    with caplog.at_level(logging.WARNING, logger="redhorn"):
        create_engine(settings, tmp_path)
    lines = warnings_of(caplog, "redhorn.engines")
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert "'workstation id'" in lines[0].lower() and "'pooling'" in lines[0].lower()
    assert "VismaConnection.VismaDbConnectionString" in lines[0]
    assert SECRET not in lines[0] and "trusted_connection" not in lines[0].lower()


# 8: an invalid licence


def test_an_invalid_licence_is_logged_as_an_error_with_its_reason_never_its_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    private, public = generate_key()
    licence_text = issue_licence(load_private_key(private), "ACME AS", days=30)[:-6] + "AAAAAA"  # altered
    licence_file = tmp_path / "acme.lic"
    licence_file.write_text(licence_text)
    document = {
        "VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=~/data"},
        "ApiLicence": {"LicenceFilePath": str(licence_file), "IssuerPublicKey": public.decode()},
    }
    with caplog.at_level(logging.INFO, logger="redhorn"):
        create_licence_keeper(parse_settings(json.dumps(document)), tmp_path)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    line = errors[0].getMessage()
    assert "\n" not in line and "signature does not verify" in line and "LicenceInvalid" in line
    assert all(part not in caplog.text for part in licence_text.split(".")), "never the licence's text"


def test_a_missing_licence_file_is_logged_as_an_error_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    document = {
        "VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=~/data"},
        "ApiLicence": {"LicenceFilePath": str(tmp_path / "gone.lic"), "IssuerPublicKey": generate_key()[1].decode()},
    }
    with caplog.at_level(logging.INFO, logger="redhorn"):
        create_licence_keeper(parse_settings(json.dumps(document)), tmp_path)
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "'gone.lic'" in errors[0] and "missing" in errors[0], caplog.text


# 9: a data folder that is not there


async def test_a_missing_data_folder_is_named_with_the_fix_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    folder = tmp_path / "no-such-data"
    settings = parse_settings(json.dumps(settings_document(folder)))
    engine = create_engine(settings, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="redhorn"):
            metadata = await crawl(engine, load_dictionary())
    finally:
        await engine.close()
    assert not metadata.databases
    lines = warnings_of(caplog, "redhorn")
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert str(folder) in lines[0] and "redhorn demo" in lines[0]
    assert "VismaConnection.VismaDbConnectionString" in lines[0]


# 10: a VBS endpoint that cannot be reached


def vbs_settings(address: str) -> Any:
    document = settings_document(Path("/nowhere"))
    document["VismaConnection"] |= {
        "VbsEndpointAddress": address,
        "VbsIntegrationUser": "vbsint",
        "VbsIntegrationUserPassword": SECRET,
    }
    document["Writes"] = {"VbsConnectTimeoutSeconds": 2, "VbsTimeoutSeconds": 2}
    return parse_settings(json.dumps(document))


WRITE = WriteRequest(
    WriteContext(company_no=9999, user_name="demo"),
    (AddRows("Associate", (RowWrite((Assign("Name", "x"),)),)),),
)


def never_answers(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("kind", "transport"),
    [("connection refused", None), ("no answer within 2 s", httpx.MockTransport(never_answers))],
    ids=["refused", "timeout"],
)
async def test_an_unreachable_vbs_endpoint_is_logged_once_naming_its_address_and_the_failure(
    kind: str, transport: httpx.AsyncBaseTransport | None, caplog: pytest.LogCaptureFixture
):
    port = free_port()
    vbs = VbsTransport(
        vbs_settings(f"http://vbsint:{SECRET}@127.0.0.1:{port}/vbs/write?key={SECRET}"), transport=transport
    )
    try:
        with caplog.at_level(logging.WARNING, logger="redhorn"):
            for _ in range(20):  # a storm of writes
                with pytest.raises(write_errors.WriterUnavailable):
                    await vbs.execute("F9999", WRITE)
    finally:
        await vbs.close()
    lines = warnings_of(caplog, "redhorn")
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert f"http://127.0.0.1:{port}/vbs/write" in lines[0] and kind in lines[0], lines
    assert SECRET not in caplog.text and "vbsint" not in caplog.text
