"""The `redhorn` command line, run in process: each command does its work and says so in one line,
and each mistake an operator can make is one `redhorn: ...` line on stderr with exit status 2."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest

from redhorn.application import SERVER_KEY_ENV, VERSION
from redhorn.cli import check_address_free, company_numbers, login_hint, main
from redhorn.errors import CommandError
from redhorn.licensing.licence import load_public_key, verify_licence
from redhorn.settings import SETTINGS_ENV, parse_settings
from redhorn.writers.idempotency import IdempotencyStore
from tests.conftest import deep_merge, free_port, settings_document


def write_settings(folder: Path, demo_folder: Path, **sections: Any) -> Path:
    path = folder / "config" / "appsettings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings_document(demo_folder, **sections)), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# Arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "the following arguments are required: command", id="no-command"),
        pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="unknown-command"),
        pytest.param(["licence"], "the following arguments are required: action", id="no-action"),
        pytest.param(["licence", "issue", "--key", "k.pem"], "--licensee, --out", id="missing-options"),
        pytest.param(["serve", "--port", "eighty"], "argument --port: invalid int value: 'eighty'", id="bad-port"),
    ],
)
def test_argument_mistakes_print_the_usage_and_exit_with_status_2(capsys, args: list[str], message: str):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: redhorn") and message in err


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"redhorn {VERSION}\n"


def test_a_missing_settings_file_is_one_line_naming_it(capsys, tmp_path: Path):
    code, out, err = run(capsys, "--settings", str(tmp_path / "nope.json"), "dev-cert")
    assert code == 2 and out == ""
    assert err.startswith("redhorn: ") and "nope.json" in err and err.count("\n") == 1


# dev-cert --------------------------------------------------------------------------------------


def test_dev_cert_writes_a_pair_where_the_settings_say_and_if_missing_keeps_it(
    capsys, tmp_path: Path, demo_folder: Path
):
    settings_file = write_settings(
        tmp_path, demo_folder, Server={"CertificateFile": "~/tls/cert.pem", "KeyFile": "~/tls/key.pem"}
    )
    code, out, _ = run(capsys, "--settings", str(settings_file), "dev-cert")
    certificate, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert code == 0 and out == f"Wrote a self-signed development certificate to {certificate}\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = certificate.read_bytes()
    code, out, _ = run(capsys, "dev-cert", "--settings", str(settings_file), "--if-missing")
    assert code == 0 and out == f"Development certificate already at {certificate}\n"
    assert certificate.read_bytes() == first
    run(capsys, "--settings", str(settings_file), "dev-cert")
    assert certificate.read_bytes() != first, "without --if-missing a new pair replaces the old"


# hash-password ---------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_hash_password_reads_one_line_from_a_pipe_and_prints_its_argon2_hash(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\r\nignored\n"))
    code, out, _ = run(capsys, "hash-password")
    assert code == 0 and out.startswith("$argon2id$")
    assert argon2.PasswordHasher().verify(out.strip(), "s3cret pass")


def test_hash_password_refuses_an_empty_password(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    code, out, err = run(capsys, "hash-password")
    assert (code, out, err) == (2, "", "redhorn: the password is empty\n")


def test_hash_password_on_a_terminal_asks_twice(capsys, monkeypatch):
    answers = iter(["typed", "typed"])
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    code, out, _ = run(capsys, "hash-password")
    assert code == 0 and argon2.PasswordHasher().verify(out.strip(), "typed")


def test_hash_password_on_a_terminal_refuses_two_different_passwords(capsys, monkeypatch):
    answers = iter(["typed", "mistyped"])
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    code, out, err = run(capsys, "hash-password")
    assert (code, out, err) == (2, "", "redhorn: the passwords differ\n")


# licence ---------------------------------------------------------------------------------------


def test_licence_keygen_then_issue_makes_a_licence_the_public_key_verifies(capsys, tmp_path: Path):
    key = tmp_path / "keys" / "issuer.pem"
    code, out, _ = run(capsys, "licence", "keygen", "--out", str(key))
    assert code == 0 and out == f"Wrote {key} (keep it secret) and {key}.pub (ApiLicence.IssuerPublicKey)\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    licence_file = tmp_path / "acme.lic"
    args = ["licence", "issue", "--key", str(key), "--licensee", "ACME AS", "--companies", " 9999, 1,", "--days", "2"]
    code, out, _ = run(capsys, *args, "--out", str(licence_file))
    assert code == 0 and out == f"Wrote a licence for 'ACME AS' to {licence_file}, valid 2 days\n"
    licence = verify_licence(licence_file.read_text(), load_public_key(Path(f"{key}.pub").read_bytes()))
    assert (licence.licensee, licence.companies) == ("ACME AS", (1, 9999))
    assert 2 * 86400 - 60 < licence.expires - licence.issued <= 2 * 86400


@pytest.mark.parametrize(
    ("key_text", "message"),
    [
        pytest.param(None, "No such file or directory", id="missing-key"),
        pytest.param("not a key", "not a PEM private key", id="not-a-key"),
    ],
)
def test_licence_issue_with_an_unusable_key_is_one_line(capsys, tmp_path: Path, key_text: str | None, message: str):
    key = tmp_path / "issuer.pem"
    if key_text is not None:
        key.write_text(key_text)
    code, out, err = run(capsys, "licence", "issue", "--key", str(key), "--licensee", "X", "--out", str(tmp_path / "x"))
    assert code == 2 and out == ""
    assert err.startswith("redhorn: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("text", "numbers"), [("", ()), ("9999", (9999,)), (" 1 ,2,, 3 ", (1, 2, 3)), ("0042", (42,))])
def test_company_numbers_are_positive_whole_numbers(text: str, numbers: tuple[int, ...]):
    assert company_numbers(text) == numbers


@pytest.mark.parametrize("part", ["0", "-1", "x", "١٢", "1.5"])
def test_a_part_that_is_no_company_number_is_named(part: str):
    with pytest.raises(CommandError, match=f"--companies: {part!r} is not a company number"):
        company_numbers(f"9999,{part}")


def licence_settings(tmp_path: Path, demo_folder: Path, **section: str) -> Path:
    return write_settings(tmp_path, demo_folder, ApiLicence=section)


def test_licence_demo_makes_the_key_pair_and_licence_the_settings_name_once(capsys, tmp_path: Path, demo_folder: Path):
    settings_file = licence_settings(
        tmp_path, demo_folder, LicenceFilePath="~/config/demo.lic", IssuerPublicKey="~/config/issuer.pem.pub"
    )
    code, out, _ = run(capsys, "--settings", str(settings_file), "licence", "demo", "--if-missing")
    licence_file, public, private = (
        tmp_path / "config" / name for name in ("demo.lic", "issuer.pem.pub", "issuer.pem")
    )
    assert code == 0 and out.startswith(f"Issued a demo licence (all companies, 365 days) to {licence_file}")
    licence = verify_licence(licence_file.read_text(), load_public_key(public.read_bytes()))
    assert licence.licensee == "redhorn demo" and licence.companies == ()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "--settings", str(settings_file), "licence", "demo", "--if-missing")
    assert code == 0 and out == f"Demo licence already at {licence_file}\n"
    key_pair = public.read_bytes()
    licence_file.unlink()
    code, out, _ = run(capsys, "--settings", str(settings_file), "licence", "demo", "--if-missing")
    assert code == 0 and licence_file.is_file()
    assert public.read_bytes() == key_pair, "the issuer key is kept: only the licence was missing"


@pytest.mark.parametrize(
    "section",
    [
        pytest.param({}, id="no-licence-file"),
        pytest.param({"LicenceFilePath": "x.lic", "IssuerPublicKey": "-----BEGIN PUBLIC KEY-----\n..."}, id="inline"),
    ],
)
def test_licence_demo_without_files_to_make_says_so(capsys, tmp_path: Path, demo_folder: Path, section: dict[str, str]):
    settings_file = licence_settings(tmp_path, demo_folder, **section)
    code, out, _ = run(capsys, "--settings", str(settings_file), "licence", "demo")
    assert code == 0 and out == "ApiLicence names no licence file and key file: nothing to make\n"
    assert not (tmp_path / "x.lic").exists()


# idempotency -----------------------------------------------------------------------------------


@pytest.fixture
def idempotency_settings(tmp_path: Path, demo_folder: Path) -> Path:
    return write_settings(tmp_path, demo_folder, Writes={"IdempotencyDatabase": "~/data/writes.db"})


async def leave_unknown(settings_file: Path, *keys: str) -> None:
    store = IdempotencyStore(settings_file.parent.parent / "data" / "writes.db", 3600)
    try:
        for key in keys:
            scope = f"demo\nF9999\norders/{key}"
            await store.claim(scope, key, b"digest")
            await store.mark_unknown(scope, key)
    finally:
        await store.close()


def test_idempotency_unresolved_with_none_waiting_says_so(capsys, idempotency_settings: Path):
    code, out, _ = run(capsys, "--settings", str(idempotency_settings), "idempotency", "unresolved")
    assert code == 0 and out == "No Idempotency-Key waits for an operator\n"


async def test_idempotency_lists_the_unknown_keys_and_resolves_one(capsys, idempotency_settings: Path):
    await leave_unknown(idempotency_settings, "key-a", "key-b")
    # The commands run their own event loop, as from a shell: run them outside this test's loop.
    code, out, _ = await_in_thread(capsys, "--settings", str(idempotency_settings), "idempotency", "unresolved")
    lines = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and [line[:4] for line in lines] == [
        ["key-a", "demo", "F9999", "orders/key-a"],
        ["key-b", "demo", "F9999", "orders/key-b"],
    ]
    assert all(line[4].endswith(" UTC") for line in lines)
    code, out, _ = await_in_thread(capsys, "--settings", str(idempotency_settings), "idempotency", "resolve", "key-a")
    assert code == 0 and out == "Idempotency-Key 'key-a' is free: the next request with it writes again\n"
    code, out, err = await_in_thread(capsys, "--settings", str(idempotency_settings), "idempotency", "resolve", "key-a")
    assert code == 2 and err == (
        "redhorn: No Idempotency-Key 'key-a' waits for an operator (see 'redhorn idempotency unresolved')\n"
    )
    code, out, _ = await_in_thread(capsys, "--settings", str(idempotency_settings), "idempotency", "unresolved")
    assert [line.split("\t")[0] for line in out.splitlines()] == ["key-b"]


def await_in_thread(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        code = pool.submit(main, list(args)).result()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# demo ------------------------------------------------------------------------------------------


def test_demo_writes_the_demo_settings_and_finds_an_existing_demo_in_their_data_source(
    capsys, tmp_path: Path, demo_folder: Path
):
    (tmp_path / "data").symlink_to(demo_folder, target_is_directory=True)
    settings_file = tmp_path / "config" / "appsettings.json"
    code, out, _ = run(capsys, "--settings", str(settings_file), "demo", "--if-missing")
    assert code == 0
    assert out.splitlines() == [
        f"Wrote the demo settings to {settings_file}",
        f"Demo databases already in {tmp_path / 'data'}",
    ]
    settings = parse_settings(settings_file.read_text(encoding="utf-8"))
    assert settings.api_users[0].username == "demo"
    code, out, _ = run(capsys, "--settings", str(settings_file), "demo", "--folder", str(demo_folder), "--if-missing")
    assert code == 0 and out == f"Demo databases already in {demo_folder.resolve()}\n", "the settings are kept"


# serve -----------------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What `serve` hands to uvicorn, instead of serving: the checks before it are what is tested."""
    import uvicorn

    handed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(app=app, **options))
    monkeypatch.delenv(SERVER_KEY_ENV, raising=False)
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    yield handed


def test_serve_checks_the_certificate_then_hands_it_to_the_server_with_one_signing_key(
    capsys, tmp_path: Path, demo_folder: Path, uvicorn_run: dict[str, Any]
):
    document = settings_document(demo_folder)
    document["Tokens"] = {}
    settings_file = tmp_path / "appsettings.json"
    settings_file.write_text(
        json.dumps(deep_merge(document, {"Server": {"CertificateFile": "c.pem", "KeyFile": "k.pem"}}))
    )
    assert run(capsys, "--settings", str(settings_file), "dev-cert")[0] == 0
    port = free_port()
    code, out, _ = run(capsys, "--settings", str(settings_file), "serve", "--port", str(port), "--show-login")
    assert code == 0
    assert out.startswith(f"redhorn serves https://127.0.0.1:{port}\nLog in as 'demo' with Basic authentication")
    assert uvicorn_run["app"] == "redhorn.application:app_from_environment"
    assert (uvicorn_run["ssl_certfile"], uvicorn_run["ssl_keyfile"]) == (
        str(tmp_path / "c.pem"),
        str(tmp_path / "k.pem"),
    )
    # uvicorn's access log is off: redhorn.access, configured in log_config, replaces it.
    assert (uvicorn_run["port"], uvicorn_run["workers"], uvicorn_run["access_log"]) == (port, 1, False)
    assert uvicorn_run["log_config"]["loggers"]["redhorn.access"]["level"] == "INFO"
    assert os.environ[SETTINGS_ENV] == str(settings_file)
    assert len(os.environ[SERVER_KEY_ENV]) == 64, "every worker signs with the key made here"


def test_serve_without_tls_and_with_a_signing_key_hands_over_neither(
    capsys, tmp_path: Path, demo_folder: Path, uvicorn_run: dict[str, Any]
):
    settings_file = write_settings(tmp_path, demo_folder)
    port = free_port()
    code, out, _ = run(
        capsys, "serve", "--settings", str(settings_file), "--port", str(port), "--no-tls", "--workers", "3"
    )
    assert code == 0 and out == f"redhorn serves http://127.0.0.1:{port}\n"
    assert "ssl_certfile" not in uvicorn_run and uvicorn_run["workers"] == 3
    assert SERVER_KEY_ENV not in os.environ, "Tokens.SigningKey is the workers' shared key"


def test_serve_stops_before_the_server_on_a_bad_certificate(
    capsys, tmp_path: Path, demo_folder: Path, uvicorn_run: dict[str, Any]
):
    settings_file = write_settings(tmp_path, demo_folder, Server={"CertificateFile": "~/c.pem", "KeyFile": "~/k.pem"})
    code, out, err = run(capsys, "--settings", str(settings_file), "serve")
    assert code == 2 and out == "" and err.startswith(f"redhorn: No TLS certificate at {tmp_path / 'c.pem'}")
    assert uvicorn_run == {}


def test_a_port_another_program_listens_on_is_named():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(CommandError, match=f"127.0.0.1:{port} is in use by another program"):
            check_address_free("127.0.0.1", port)
    check_address_free("127.0.0.1", port)


def test_a_host_name_that_does_not_resolve_is_named():
    with pytest.raises(CommandError, match="Cannot listen on no-such-host.invalid:8443: .*set --host or Server.Host"):
        check_address_free("no-such-host.invalid", 8443)


def test_an_address_that_is_not_this_machines_is_refused_before_serving():
    # 192.0.2.1 (TEST-NET-1) is on no machine: binding to it fails with EADDRNOTAVAIL, as uvicorn's will.
    with pytest.raises(CommandError):
        check_address_free("192.0.2.1", 8443)


def settings_with_users(demo_folder: Path, users: list[dict[str, Any]]):
    document = settings_document(demo_folder)
    document["ApiUsers"] = users
    return parse_settings(json.dumps(document))


def test_the_login_hint_shows_a_plain_password_and_hides_a_hashed_one(demo_folder: Path):
    plain = settings_with_users(
        demo_folder, [{"Username": "ann", "Password": "pw", "AccessibleCompanies": [{"CompanyNo": 1}]}]
    )
    hint = login_hint(plain, "https://host:1")
    assert "curl -k -u 'ann:pw' 'https://host:1/api/1/orders?$top=5&$count=true'" in hint
    assert "-d 'password=pw'" in hint and "API documentation: https://host:1/swagger" in hint
    hashed = settings_with_users(demo_folder, [{"Username": "bob", "Password": argon2.PasswordHasher().hash("pw")}])
    hint = login_hint(hashed, "https://host:1")
    assert "-u 'bob:<password>' 'https://host:1/api/9999/orders" in hint and "$argon2" not in hint


def test_the_login_hint_without_users_says_how_to_add_one(demo_folder: Path):
    assert login_hint(settings_with_users(demo_folder, []), "https://x") == (
        "No API users are configured: add one to ApiUsers in the settings file to log in."
    )


def test_a_port_in_use_on_ipv6_is_named_too():
    with socket.socket(socket.AF_INET6) as holder:
        try:
            holder.bind(("::1", 0))
        except OSError:
            pytest.skip("IPv6 loopback is not enabled here")
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(CommandError, match=f"::1:{port} is in use by another program"):
            check_address_free("::1", port)
    check_address_free("::1", port)


async def test_licence_serve_hands_the_service_signing_with_the_key_to_the_server(
    capsys, tmp_path: Path, uvicorn_run: dict[str, Any]
):
    key = tmp_path / "issuer.pem"
    assert main(["licence", "keygen", "--out", str(key)]) == 0
    revoked = tmp_path / "revoked.txt"
    args = ["licence", "serve", "--key", str(key), "--port", "9443", "--revoked", str(revoked)]
    code, _, _ = run(capsys, *args, "--certfile", "c.pem", "--keyfile", "k.pem")
    assert code == 0
    assert (uvicorn_run["port"], uvicorn_run["ssl_certfile"], uvicorn_run["ssl_keyfile"]) == (9443, "c.pem", "k.pem")
    transport = httpx.ASGITransport(app=uvicorn_run["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        answer = await client.get("/api/licences/public-key")
    assert answer.content == Path(f"{key}.pub").read_bytes(), "the service signs with the key it was given"


def test_licence_serve_without_a_certificate_serves_plain_http(capsys, tmp_path: Path, uvicorn_run: dict[str, Any]):
    key = tmp_path / "issuer.pem"
    main(["licence", "keygen", "--out", str(key)])
    code, _, _ = run(capsys, "licence", "serve", "--key", str(key))
    assert code == 0 and "ssl_certfile" not in uvicorn_run
    assert (uvicorn_run["host"], uvicorn_run["port"]) == ("127.0.0.1", 8444)


async def test_the_vbs_emulator_serves_the_settings_data_source_as_the_integration_user(
    capsys, tmp_path: Path, demo_folder: Path, uvicorn_run: dict[str, Any]
):
    settings_file = write_settings(
        tmp_path, demo_folder, VismaConnection={"VbsIntegrationUser": "vbsint", "VbsIntegrationUserPassword": "s"}
    )
    code, out, _ = run(capsys, "--settings", str(settings_file), "vbs-emulator", "--port", "2002")
    assert code == 0 and out == "redhorn vbs-emulator answers http://127.0.0.1:2002/\n"
    assert uvicorn_run["port"] == 2002 and uvicorn_run["host"] == "127.0.0.1"
    app = uvicorn_run["app"]
    body = b'{"context": {"companyNo": 4242, "userName": "system"}, "operations": []}'
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge") as client:
            assert (await client.post("/", content=body, auth=("vbsint", "wrong"))).status_code == 401
            answer = await client.post("/", content=body, auth=("vbsint", "s"))
    assert answer.status_code == 200, "the settings' integration user is let in"
    assert answer.json()["messages"][0]["code"] == "CompanyNotFound", "company 4242 is not in the demo"
