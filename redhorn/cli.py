"""The `redhorn` command line: serve the API, build the demo, make a development certificate, report naming, pull.

Everything under `redhorn.tools` (the demo builder, the reference services) is imported inside the command that
uses it, so that `redhorn serve` loads none of it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import getpass
import logging
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from redhorn.application import SERVER_KEY_ENV, VERSION, default_settings_file, root_of
from redhorn.auth.passwords import hash_password, is_hashed
from redhorn.catalog.dictionary import load_dictionary, overrides_file
from redhorn.client.command import (
    DESCRIPTION as PULL_DESCRIPTION,
    EPILOG as PULL_EPILOG,
    add_arguments as add_pull_arguments,
    command_pull,
)
from redhorn.engines.connect import create_engine
from redhorn.errors import CertificateError, CommandError, LicenceError, SettingsError
from redhorn.licensing.keeper import write_atomically
from redhorn.licensing.licence import generate_key, issue_licence, load_private_key
from redhorn.server.cluster import open_idempotency
from redhorn.server.keys import check_cluster_key
from redhorn.server.logs import log_config
from redhorn.server.metrics import multiprocess_folder
from redhorn.server.tls import check_certificate_pair, make_development_certificate
from redhorn.settings import SETTINGS_ENV, Settings, load_settings, parse_connection_string, resolve_path
from redhorn.writers.idempotency import IdempotencyRecords

DEMO_SETTINGS = "demo_settings.json"
SETTINGS_HELP = "settings file (default: $REDHORN_SETTINGS or config/appsettings.json)"
# What bind() says when another socket holds the address, on POSIX and on Windows.
_ADDRESS_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}


def _settings_path(value: str | None) -> Path:
    return Path(value).resolve() if value else default_settings_file()


def _demo_folder(settings_file: Path) -> Path:
    settings = load_settings(settings_file)
    pairs = parse_connection_string(settings.visma_connection.visma_db_connection_string)
    return resolve_path(pairs.get("data source", "~/data"), root_of(settings_file))


def write_demo_settings(settings_file: Path) -> None:
    """The demo's settings file (shipped in the package, as config/appsettings.json is in the repository)."""
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(
        settings_file, resources.files("redhorn.tools.demo").joinpath(DEMO_SETTINGS).read_text(encoding="utf-8")
    )


def command_demo(args: argparse.Namespace) -> int:
    from redhorn.tools.demo.build import build_demo, demo_exists

    settings_file = _settings_path(args.settings)
    if not settings_file.exists():
        write_demo_settings(settings_file)
        print(f"Wrote the demo settings to {settings_file}")
    folder = Path(args.folder).resolve() if args.folder else _demo_folder(settings_file)
    if args.if_missing and demo_exists(folder):
        print(f"Demo databases already in {folder}")
        return 0
    print(f"Building the demo databases in {folder} (scale {args.scale}) ...", flush=True)
    seconds = build_demo(folder, scale=args.scale)
    print(f"Built in {seconds:.1f} s")
    return 0


def _certificate_paths(settings_file: Path) -> tuple[Path, Path]:
    settings = load_settings(settings_file)
    root = root_of(settings_file)
    return resolve_path(settings.server.certificate_file, root), resolve_path(settings.server.key_file, root)


def command_dev_cert(args: argparse.Namespace) -> int:
    certificate, key = _certificate_paths(_settings_path(args.settings))
    if args.if_missing and certificate.is_file() and key.is_file():
        print(f"Development certificate already at {certificate}")
        return 0
    make_development_certificate(certificate, key)
    print(f"Wrote a self-signed development certificate to {certificate}")
    return 0


def command_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings_file = _settings_path(args.settings)
    settings = load_settings(settings_file)
    create_engine(settings, root_of(settings_file), warn=False)  # fail early on a bad connection string
    load_dictionary(overrides_file(settings_file))  # and on a bad site overrides file, naming it and the line
    check_cluster_key(settings)  # and on several hosts without one signing key
    if settings.visma_connection.writer == "wrapper":  # and on Visma's assemblies missing or unknown
        from redhorn.writers.wrapper_runtime import load_wrapper

        load_wrapper(resolve_path(settings.visma_connection.vbs_assembly_path, root_of(settings_file)))
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    tls: dict[str, str] = {}
    scheme = "http"
    if not args.no_tls:
        certificate, key = _certificate_paths(settings_file)
        check_certificate_pair(certificate, key)
        tls = {"ssl_certfile": str(certificate), "ssl_keyfile": str(key)}
        scheme = "https"
    check_address_free(host, port)
    os.environ[SETTINGS_ENV] = str(settings_file)
    if not settings.tokens.signing_key:
        os.environ[SERVER_KEY_ENV] = secrets.token_hex(32)  # one key for every worker of this server
    multiprocess_folder(args.workers)  # several workers: /metrics adds up every worker's counts
    print(f"redhorn serves {scheme}://{host}:{port}", flush=True)
    if args.show_login:
        print(login_hint(settings, f"{scheme}://{host}:{port}"), flush=True)
    uvicorn.run(
        "redhorn.application:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        proxy_headers=False,  # forwarded headers are honoured only from Server.TrustedProxies
        server_header=False,
        access_log=False,  # redhorn.access replaces uvicorn's access log (--no-access-log silences it)
        log_level=args.log_level,
        log_config=_log_config(settings, args),
        http="redhorn.server.protocol:GuardedHttpToolsProtocol",  # header deadline and connection cap
        # SIGTERM (Ctrl+Break on Windows): stop accepting, let requests in flight finish this long
        timeout_graceful_shutdown=settings.server.shutdown_timeout_seconds,
        **tls,  # type: ignore[arg-type]
    )
    return 0


def check_address_free(host: str, port: int) -> None:
    """Bind each address `host` names, as the server will, and let go at once.

    A port another program holds would otherwise be found by uvicorn only after the login banner
    was printed, and said in a log line of its own; here it is one line before anything else.

    Raises:
        CommandError: the address is in use, or cannot be listened on here.
    """
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(
            f"Cannot listen on {host}:{port}: {exc.strerror}; set --host or Server.Host to an address of this machine"
        ) from None
    unavailable = 0
    for family, kind, protocol, _, address in addresses:
        try:
            _bind_and_close(family, kind, protocol, address)
        except OSError as exc:
            if exc.errno in _ADDRESS_IN_USE:
                raise CommandError(
                    f"{host}:{port} is in use by another program; stop it, or choose another port "
                    "with --port or Server.Port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                unavailable += 1  # an address family this machine has not enabled: the server skips it too
                continue
            raise CommandError(
                f"Cannot listen on {host}:{port}: {exc.strerror}; choose another address or port "
                "with --host/--port or Server.Host/Server.Port"
            ) from None
    if addresses and unavailable == len(addresses):
        raise CommandError(
            f"Cannot listen on {host}:{port}: it is not an address of this machine; "
            "set --host or Server.Host to one of its addresses"
        )


def _bind_and_close(family: int, kind: int, protocol: int, address: Any) -> None:
    """Bind with the options asyncio's server uses, so the probe fails where the server would and only there."""
    with socket.socket(family, kind, protocol) as probe:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let the probe share a port in use
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)


def _log_config(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The logging every process applies (uvicorn applies it in each worker), so that redhorn's
    lines, the access line among them, appear from each worker in `Logs.Format`."""
    return log_config(settings.logs.format, access_log=not args.no_access_log, level=args.log_level)


def login_hint(settings: Settings, base_url: str) -> str:
    """How to log in as the first API user; its password is shown only when the file keeps it plain."""
    if not settings.api_users:
        return "No API users are configured: add one to ApiUsers in the settings file to log in."
    user = settings.api_users[0]
    company = user.accessible_companies[0].company_no if user.accessible_companies else 9999
    password = "<password>" if is_hashed(user.password) else user.password
    return (
        f"Log in as {user.username!r} with Basic authentication, or get a token:\n"
        f"  curl -k -u '{user.username}:{password}' '{base_url}/api/{company}/orders?$top=5&$count=true'\n"
        f"  curl -k -d grant_type=password -d 'username={user.username}' -d 'password={password}' "
        f"{base_url}/api/oauth/token\n"
        f"  API documentation: {base_url}/swagger\n"
        f"  OData feed for Power BI and Excel (Get data > OData feed, Basic as {user.username!r}): "
        f"{base_url}/odata/{company}/"
    )


def command_hash_password(args: argparse.Namespace) -> int:
    """Print an Argon2id hash for `ApiUsers[].Password`; the password is read from the terminal or stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("redhorn: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("redhorn: the password is empty", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def command_licence_keygen(args: argparse.Namespace) -> int:
    """Write a new issuer key pair: PATH (private, mode 0600) and PATH.pub (public)."""
    private_pem, public_pem = generate_key()
    path = Path(args.out)
    _write_private(path, private_pem)
    Path(f"{path}.pub").write_bytes(public_pem)
    print(f"Wrote {path} (keep it secret) and {path}.pub (ApiLicence.IssuerPublicKey)")
    return 0


def company_numbers(text: str) -> tuple[int, ...]:
    """The numbers of `--companies 9999,1` (empty: every company).

    Raises:
        CommandError: a part is not a company number; it is named.
    """
    numbers: list[int] = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or int(part) == 0:
            raise CommandError(
                f"--companies: {part!r} is not a company number; give positive whole numbers separated by "
                "commas, e.g. --companies 9999,1, or leave it out for every company"
            )
        numbers.append(int(part))
    return tuple(numbers)


def command_licence_issue(args: argparse.Namespace) -> int:
    """Sign a licence with an issuer's private key."""
    companies = company_numbers(args.companies)
    text = issue_licence(
        load_private_key(Path(args.key).read_bytes()), args.licensee, days=args.days, companies=companies
    )
    write_atomically(Path(args.out), text + "\n")
    print(f"Wrote a licence for {args.licensee!r} to {args.out}, valid {args.days:g} days")
    return 0


def command_licence_serve(args: argparse.Namespace) -> int:
    """Run the reference licence service."""
    import uvicorn

    from redhorn.tools.licence_service import create_service

    revoked = Path(args.revoked) if args.revoked else None
    app = create_service(Path(args.key).read_bytes(), days=args.days, grace_days=args.grace_days, revoked=revoked)
    tls = {"ssl_certfile": args.certfile, "ssl_keyfile": args.keyfile} if args.certfile else {}
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, server_header=False, **tls)
    return 0


def command_vbs_emulator(args: argparse.Namespace) -> int:
    """Answer the VBS write contract with the embedded executor, as the settings' integration user."""
    import uvicorn

    from redhorn.tools.vbs_emulator import create_emulator

    settings_file = _settings_path(args.settings)
    settings = load_settings(settings_file)
    connection = settings.visma_connection
    app = create_emulator(
        _demo_folder(settings_file), connection.vbs_integration_user, connection.vbs_integration_user_password
    )
    print(f"redhorn vbs-emulator answers http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, server_header=False)
    return 0


def command_licence_demo(args: argparse.Namespace) -> int:
    """The demo's issuer key and licence, where the settings file says, made once."""
    settings_file = _settings_path(args.settings)
    settings = load_settings(settings_file)
    section = settings.api_licence
    if not section.licence_file_path or section.issuer_public_key.startswith("-----BEGIN"):
        print("ApiLicence names no licence file and key file: nothing to make")
        return 0
    root = root_of(settings_file)
    licence_path = resolve_path(section.licence_file_path, root)
    public_path = resolve_path(section.issuer_public_key, root)
    private_path = public_path.with_name(public_path.name.removesuffix(".pub"))
    if args.if_missing and licence_path.is_file() and public_path.is_file() and private_path.is_file():
        print(f"Demo licence already at {licence_path}")
        return 0
    if not private_path.is_file() or not public_path.is_file():
        private_pem, public_pem = generate_key()
        _write_private(private_path, private_pem)
        public_path.write_bytes(public_pem)
    text = issue_licence(load_private_key(private_path.read_bytes()), "redhorn demo", days=365)
    write_atomically(licence_path, text + "\n")
    print(f"Issued a demo licence (all companies, 365 days) to {licence_path}, signed by {private_path}")
    return 0


def _idempotency_store(args: argparse.Namespace) -> IdempotencyRecords:
    """The records the servers keep: the host's SQLite file, or Redis with `Cluster.RedisUrl`."""
    settings_file = _settings_path(args.settings)
    return open_idempotency(load_settings(settings_file), root_of(settings_file), own_connection=True)


def command_idempotency_unresolved(args: argparse.Namespace) -> int:
    """List the Idempotency-Keys whose write may or may not have happened (VBS went away mid-write)."""

    async def listing() -> list[tuple[str, str, float]]:
        store = _idempotency_store(args)
        try:
            return await store.unresolved()
        finally:
            await store.close()

    keys = asyncio.run(listing())
    for scope, key, claimed_at in keys:
        user, database, resource = scope.split("\n")
        when = dt.datetime.fromtimestamp(claimed_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        print(f"{key}\t{user}\t{database}\t{resource}\t{when}")
    if not keys:
        print("No Idempotency-Key waits for an operator")
    return 0


def command_idempotency_resolve(args: argparse.Namespace) -> int:
    """Free a key whose outcome was unknown, once the operator has checked Visma Business."""

    async def resolving() -> int:
        store = _idempotency_store(args)
        try:
            return await store.resolve(args.key)
        finally:
            await store.close()

    if asyncio.run(resolving()) == 0:
        raise CommandError(
            f"No Idempotency-Key {args.key!r} waits for an operator (see 'redhorn idempotency unresolved')"
        )
    print(f"Idempotency-Key {args.key!r} is free: the next request with it writes again")
    return 0


def command_check(args: argparse.Namespace) -> int:
    """Check what `serve` needs; one line per problem on stderr and status 1, or a summary and 0."""
    from redhorn.tools.check import check

    settings_file = _settings_path(args.settings)
    report = check(settings_file, os.environ, tls=not args.no_tls)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        return 1
    print(f"{settings_file}: all is well: " + "; ".join(report.working))
    return 0


def command_dictionary_report(args: argparse.Namespace) -> int:
    """Print how the crawler names one database's tables and columns: by the dictionary, by column order,
    by the stand-in convention, or not at all (SQL names), with the site overrides applied."""
    from redhorn.catalog.report import dictionary_report, format_json, format_text
    from redhorn.errors import ApiError

    settings_file = _settings_path(args.settings)
    settings = load_settings(settings_file)
    dictionary = load_dictionary(overrides_file(settings_file))

    async def reporting() -> str:
        engine = create_engine(settings, root_of(settings_file), warn=False)
        try:
            report = await dictionary_report(engine, args.database, dictionary, columns=args.columns)
        finally:
            await engine.close()
        return format_json(report) if args.json else format_text(report, columns=args.columns)

    try:
        text = asyncio.run(reporting())
    except ApiError as exc:
        raise CommandError(f"Cannot read the catalog of {args.database!r}: {exc.message}") from None
    sys.stdout.write(text)
    return 0


def _subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand that takes `--settings` after its name as well (`redhorn serve --settings FILE`).

    Its default is SUPPRESS: a subcommand's parser would otherwise set it to None whenever it is
    not repeated there, overwriting the one given before the subcommand.
    """
    parser = commands.add_parser(name, **kwargs)
    parser.add_argument("--settings", default=argparse.SUPPRESS, help=SETTINGS_HELP)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redhorn", description="A REST/OData API over Visma Business.")
    parser.add_argument("--version", action="version", version=f"redhorn {VERSION}")
    parser.add_argument("--settings", help=SETTINGS_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = _subcommand(commands, "serve", help="serve the API over HTTPS")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-tls", action="store_true", help="plain HTTP, for use behind a trusted TLS proxy")
    serve.add_argument("--no-access-log", action="store_true")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--show-login", action="store_true", help="print how to log in as the first API user (for the demo)"
    )
    serve.set_defaults(handler=command_serve)

    demo = _subcommand(
        commands, "demo", help="build the demo databases (and the demo's settings file, where there is none)"
    )
    demo.add_argument("--scale", type=float, default=1.0, help="1.0 = 200,000 orders and 1,000,000 order lines")
    demo.add_argument("--folder", help="where to write them (default: the settings' Data Source)")
    demo.add_argument("--if-missing", action="store_true")
    demo.set_defaults(handler=command_demo)

    cert = _subcommand(commands, "dev-cert", help="make a self-signed certificate for 127.0.0.1")
    cert.add_argument("--if-missing", action="store_true")
    cert.set_defaults(handler=command_dev_cert)

    hashing = _subcommand(commands, "hash-password", help="print an Argon2id hash of a password (read from stdin)")
    hashing.set_defaults(handler=command_hash_password)

    licence = _subcommand(commands, "licence", help="licence keys, licences and the reference licence service")
    actions = licence.add_subparsers(dest="action", required=True)
    keygen = _subcommand(actions, "keygen", help="make an issuer key pair")
    keygen.add_argument("--out", required=True, help="private key file; the public key goes to OUT.pub")
    keygen.set_defaults(handler=command_licence_keygen)
    issue = _subcommand(actions, "issue", help="sign a licence")
    issue.add_argument("--key", required=True, help="the issuer's private key (PEM)")
    issue.add_argument("--licensee", required=True)
    issue.add_argument("--companies", default="", help="company numbers, comma-separated; empty for all")
    issue.add_argument("--days", type=float, default=365)
    issue.add_argument("--out", required=True)
    issue.set_defaults(handler=command_licence_issue)
    serve_licences = _subcommand(actions, "serve", help="run the reference licence service")
    serve_licences.add_argument("--key", required=True, help="the issuer's private key (PEM)")
    serve_licences.add_argument("--host", default="127.0.0.1")
    serve_licences.add_argument("--port", type=int, default=8444)
    serve_licences.add_argument("--days", type=float, default=365, help="validity of a renewed licence")
    serve_licences.add_argument("--grace-days", type=float, default=90, help="how long an expired licence renews")
    serve_licences.add_argument("--revoked", help="file of revoked licence ids, one a line")
    serve_licences.add_argument("--certfile")
    serve_licences.add_argument("--keyfile")
    serve_licences.add_argument("--log-level", default="info")
    serve_licences.set_defaults(handler=command_licence_serve)
    demo_licence = _subcommand(actions, "demo", help="make the demo issuer key and licence the settings name")
    demo_licence.add_argument("--if-missing", action="store_true")
    demo_licence.set_defaults(handler=command_licence_demo)
    emulator = _subcommand(
        commands, "vbs-emulator", help="answer the VBS write contract with the embedded writer (tests, development)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=2001)
    emulator.add_argument("--log-level", default="info")
    emulator.set_defaults(handler=command_vbs_emulator)

    dictionary = _subcommand(commands, "dictionary", help="the data dictionary: how a database's names are found")
    dictionary_actions = dictionary.add_subparsers(dest="action", required=True)
    report = _subcommand(
        dictionary_actions,
        "report",
        help="print how each table and column of a database was named (dictionary, column-order, stand-in, sql)",
    )
    report.add_argument("--database", default="F9999", help="the database: F9999 (default), vbsys or Catalog")
    report.add_argument("--columns", action="store_true", help="each column's naming under its table")
    report.add_argument("--json", action="store_true", help="machine-readable JSON")
    report.set_defaults(handler=command_dictionary_report)

    idempotency = _subcommand(commands, "idempotency", help="Idempotency-Keys whose outcome is unknown")
    keys = idempotency.add_subparsers(dest="action", required=True)
    unresolved = _subcommand(keys, "unresolved", help="list the keys an operator must resolve")
    unresolved.set_defaults(handler=command_idempotency_unresolved)
    resolve = _subcommand(keys, "resolve", help="free a key once Visma Business has been checked")
    resolve.add_argument("key")
    resolve.set_defaults(handler=command_idempotency_resolve)

    checking = _subcommand(
        commands,
        "check",
        help="check the settings, the databases, VBS, the licence and the certificate before serving",
        description="Validate the settings file (with its environment overrides), open every database the "
        "server would serve, reach VBS and the licence service when configured, judge the licence and load "
        "the TLS certificate with its key. Exit 0 with a summary, or 1 with one line per problem.",
    )
    checking.add_argument(
        "--no-tls", action="store_true", help="skip the certificate, for a server run with 'serve --no-tls'"
    )
    checking.set_defaults(handler=command_check)

    # A client of a server, which reads no settings file: no --settings of its own.
    pull = commands.add_parser(
        "pull",
        help="pull whole resources of a redhorn server into files, or keep a mirror database in sync",
        description=PULL_DESCRIPTION,
        epilog=PULL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pull_arguments(pull)
    pull.set_defaults(handler=command_pull)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (SettingsError, CommandError, CertificateError) as exc:
        print(f"redhorn: {exc}", file=sys.stderr)
        return 2
    except (OSError, LicenceError) as exc:
        print(f"redhorn: {exc}", file=sys.stderr)
        return 2
    return code
