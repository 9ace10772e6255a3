"""`redhorn check`: every problem in the way of `redhorn serve`, one line each, before it starts."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.cli import main, write_demo_settings
from redhorn.server.tls import make_development_certificate
from tests.conftest import deep_merge, free_port, settings_document

SECRET = "topsecret-0451"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("certificate")
    pair = folder / "cert.pem", folder / "key.pem"
    make_development_certificate(*pair)
    return pair


def write_settings(folder: Path, document: dict[str, Any], certificate: tuple[Path, Path]) -> Path:
    server = {"CertificateFile": str(certificate[0]), "KeyFile": str(certificate[1])}
    settings_file = folder / "config" / "appsettings.json"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(deep_merge({"Server": server}, document), indent=2))
    return settings_file


def run_check(capsys: pytest.CaptureFixture[str], settings_file: Path, *extra: str) -> tuple[int, list[str], str]:
    code = main(["--settings", str(settings_file), "check", *extra])
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


@pytest.fixture
def answering(request: pytest.FixtureRequest) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every GET with the status the test names; its address."""
    status: int = request.param

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/vbs"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_demo_settings_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path):
    settings_file = tmp_path / "config" / "appsettings.json"
    write_demo_settings(settings_file)
    shutil.copytree(demo_folder, tmp_path / "data")
    assert main(["--settings", str(settings_file), "dev-cert"]) == 0
    assert main(["--settings", str(settings_file), "licence", "demo"]) == 0
    capsys.readouterr()
    code, errors, out = run_check(capsys, settings_file)
    assert (code, errors) == (0, [])
    assert "all is well" in out and "databases open: vbsys, Catalog, F0001, F9999" in out
    assert "licence" in out and "valid until" in out and "TLS certificate" in out
    assert len(out.splitlines()) == 1, "a short summary"


def test_every_database_is_opened_through_odbc_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    from tests.conftest import require_odbc_driver

    require_odbc_driver()
    settings_file = write_settings(tmp_path, settings_document(demo_folder, "odbc"), certificate)
    code, errors, out = run_check(capsys, settings_file)
    assert (code, errors) == (0, []) and "databases open: vbsys, Catalog, F0001, F9999" in out


BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("bad type", {"Query": {"MaxPageSize": "many"}}, "Expected `int`, got `str` (key $.Query.MaxPageSize, line "),
    ("out of range", {"Server": {"Port": 99999}}, "Expected `int` <= 65535 (key $.Server.Port, line "),
    (
        "unknown key",
        {"Query": {"MaxPagesize": 5}},
        "Object contains unknown field `MaxPagesize` (key $.Query.MaxPagesize",
    ),
    ("missing certificate", {"Server": {"CertificateFile": "/nonexistent/cert.pem"}}, "/nonexistent/cert.pem"),
    (
        "no such data folder",
        {"VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=/nonexistent/data"}},
        "VismaConnection.VismaDbConnectionString: the data folder /nonexistent/data does not exist",
    ),
    (
        "wrong connection string",
        {"VismaConnection": {"VismaDbConnectionString": f"Flavour=unknown;Secret={SECRET}"}},
        "VismaConnection.VismaDbConnectionString: expected 'Engine=sqlite;Data Source=<folder>'",
    ),
    (
        "wrong engine",
        {"VismaConnection": {"VismaDbConnectionString": "Engine=oracle;Data Source=x"}},
        "VismaConnection.VismaDbConnectionString: Engine must be 'sqlite'",
    ),
    (
        "licence file missing",
        {"ApiLicence": {"LicenceFilePath": "/nonexistent/a.lic", "IssuerPublicKey": "/nonexistent/key.pub"}},
        "ApiLicence.IssuerPublicKey: cannot read '/nonexistent/key.pub'",
    ),
]


@pytest.mark.parametrize(("case", "section", "message"), BROKEN, ids=[case for case, _, _ in BROKEN])
def test_a_broken_file_names_its_problem_in_one_line_and_exits_1(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_folder: Path,
    certificate: tuple[Path, Path],
    case: str,
    section: dict[str, Any],
    message: str,
):
    settings_file = write_settings(tmp_path, deep_merge(settings_document(demo_folder), section), certificate)
    code, errors, out = run_check(capsys, settings_file)
    assert code == 1 and out == ""
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{settings_file}: ") and message in errors[0], errors[0]
    assert SECRET not in errors[0]


def test_a_missing_company_database_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("vbsys.db", "Catalog.db", "F9999.db"):
        shutil.copy(demo_folder / name, data / name)
    code, errors, _ = run_check(capsys, write_settings(tmp_path, settings_document(data), certificate))
    assert code == 1 and len(errors) == 1
    assert "VismaConnection.VismaDbConnectionString: Database file for 'F0001' is missing" in errors[0]


def test_an_odbc_driver_that_is_not_there_is_named_without_the_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    connection = {"VismaDbConnectionString": f"Driver={{No Such Driver}};Server=sql01;UID=ro;PWD={SECRET}"}
    document = deep_merge(settings_document(demo_folder), {"VismaConnection": connection})
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1 and errors
    assert all("VismaConnection.VismaDbConnectionString" in line for line in errors)
    assert SECRET not in "\n".join(errors)


def test_an_unreachable_vbs_address_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    address = f"http://user:{SECRET}@127.0.0.1:{free_port()}/vbs"
    document = deep_merge(
        settings_document(demo_folder),
        {"VismaConnection": {"VbsEndpointAddress": address}, "Writes": {"VbsConnectTimeoutSeconds": 2}},
    )
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1 and len(errors) == 1
    assert "VismaConnection.VbsEndpointAddress: VBS at http://127.0.0.1:" in errors[0]
    assert "cannot be reached" in errors[0] and SECRET not in errors[0]


def test_an_address_the_embedded_writer_does_not_use_is_not_reached(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    connection = {"VbsWriter": "embedded", "VbsEndpointAddress": f"http://127.0.0.1:{free_port()}/vbs"}
    document = deep_merge(settings_document(demo_folder), {"VismaConnection": connection})
    code, errors, out = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert (code, errors) == (0, []) and "VBS" not in out


def test_wrapper_assemblies_that_cannot_load_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    missing = tmp_path / "no-visma-here"
    connection = {
        "VbsWriter": "wrapper",
        "VbsAssemblyPath": str(missing),
        "VbsEndpointAddress": f"http://127.0.0.1:{free_port()}/vbs",
        "VbsIntegrationUserPassword": SECRET,
    }
    document = deep_merge(
        settings_document(demo_folder), {"VismaConnection": connection, "Writes": {"VbsConnectTimeoutSeconds": 2}}
    )
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1
    assert any(f"VismaConnection.VbsAssemblyPath {str(missing.resolve())!r} is not a folder" in e for e in errors)
    assert any("VBS at http://127.0.0.1:" in e and "cannot be reached" in e for e in errors), "and VBS is tried"
    assert SECRET not in "\n".join(errors)


@pytest.mark.parametrize("answering", [405], indirect=True)
def test_a_vbs_bridge_that_answers_is_reached(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_folder: Path,
    certificate: tuple[Path, Path],
    answering: str,
):
    document = deep_merge(settings_document(demo_folder), {"VismaConnection": {"VbsEndpointAddress": answering}})
    code, errors, out = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert (code, errors) == (0, [])
    assert f"VBS answers at {answering}" in out


@pytest.mark.parametrize("answering", [401], indirect=True)
def test_a_vbs_bridge_that_refuses_the_integration_user_is_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_folder: Path,
    certificate: tuple[Path, Path],
    answering: str,
):
    connection = {"VbsEndpointAddress": answering, "VbsIntegrationUser": "bridge", "VbsIntegrationUserPassword": SECRET}
    document = deep_merge(settings_document(demo_folder), {"VismaConnection": connection})
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1 and len(errors) == 1
    assert "VismaConnection.VbsIntegrationUser: VBS at" in errors[0] and "refuses" in errors[0]
    assert SECRET not in errors[0]


def test_an_unreachable_licence_service_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    settings_file = tmp_path / "config" / "appsettings.json"
    write_demo_settings(settings_file)
    assert main(["--settings", str(settings_file), "licence", "demo"]) == 0
    licence = {
        "LicenceFilePath": str(tmp_path / "config" / "demo.lic"),
        "IssuerPublicKey": str(tmp_path / "config" / "demo-licence-issuer.pem.pub"),
        "LicenceServiceBaseUrl": f"http://127.0.0.1:{free_port()}",
        "RequestTimeoutSeconds": 2,
    }
    document = deep_merge(settings_document(demo_folder), {"ApiLicence": licence})
    capsys.readouterr()
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1 and len(errors) == 1
    assert "ApiLicence.LicenceServiceBaseUrl: the licence service cannot be reached" in errors[0]


def test_every_problem_of_the_file_is_named_at_once_in_file_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path, certificate: tuple[Path, Path]
):
    document = deep_merge(
        settings_document(demo_folder),
        {
            "ApiUsers": [{"Username": "a", "Password": ""}, {"Username": "b", "Password": "p", "Bogus": 1}],
            "Query": {"MaxPageSize": 0, "MaxTop": "all"},
            "Compression": {"GzipLevel": 10},
        },
    )
    code, errors, _ = run_check(capsys, write_settings(tmp_path, document, certificate))
    assert code == 1
    keys = [line.split("(key ")[1].split(",")[0] for line in errors]
    assert keys == [
        "$.ApiUsers[0].Password",
        "$.ApiUsers[1].Bogus",
        "$.Query.MaxPageSize",
        "$.Query.MaxTop",
        "$.Compression.GzipLevel",
    ]
    lines = [int(line.rsplit("line ", 1)[1].rstrip(")")) for line in errors]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


def test_a_file_that_is_not_json_is_one_line_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, certificate: tuple[Path, Path]
):
    settings_file = tmp_path / "appsettings.json"
    settings_file.write_text('{\n  "Query": {\n    "MaxPageSize" 5\n  }\n}\n')
    code, errors, _ = run_check(capsys, settings_file)
    assert code == 1 and len(errors) == 1
    assert errors[0].startswith(f"{settings_file}: not valid JSON") and errors[0].endswith("(line 3)")


def test_a_missing_settings_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    code, errors, _ = run_check(capsys, tmp_path / "nowhere.json")
    assert code == 1 and errors == [
        f"{tmp_path / 'nowhere.json'}: cannot read the settings file: No such file or directory"
    ]


def test_environment_overrides_are_checked_and_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_folder: Path,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
):
    settings_file = write_settings(tmp_path, settings_document(demo_folder), certificate)
    monkeypatch.setenv("Query__MaxPageSize", SECRET)
    monkeypatch.setenv("Server__Port", "8444")
    code, errors, _ = run_check(capsys, settings_file)
    assert code == 1
    assert errors == ["environment variable Query__MaxPageSize: Expected `int`, got `str`"]
    monkeypatch.setenv("Query__MaxPageSize", "10")
    code, errors, out = run_check(capsys, settings_file)
    assert (code, errors) == (0, [])


def test_no_tls_leaves_the_certificate_out(capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_folder: Path):
    document = deep_merge(settings_document(demo_folder), {"Server": {"CertificateFile": "/nonexistent/cert.pem"}})
    settings_file = write_settings(tmp_path, document, (Path("/nonexistent/cert.pem"), Path("/nonexistent/key.pem")))
    assert run_check(capsys, settings_file)[0] == 1
    code, errors, out = run_check(capsys, settings_file, "--no-tls")
    assert (code, errors) == (0, []) and "TLS" not in out


@pytest.mark.parametrize("args", [["check", "--help"], ["--version"]])
def test_help_and_version_answer(capsys: pytest.CaptureFixture[str], args: list[str]):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert ("usage: redhorn check" in out and "--no-tls" in out) if "--help" in args else out.startswith("redhorn ")
