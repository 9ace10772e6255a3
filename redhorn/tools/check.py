"""`redhorn check`: everything `redhorn serve` needs, tried before it is started.

The settings file is validated key by key, so that every problem is named at once (the server
names only the first), with the environment's overrides applied as the server applies them; then,
with settings that hold, every database the server would serve is opened through the configured
engine, VBS and the licence service are reached when they are configured, the licence is judged and
the TLS certificate is loaded with its key. Each problem is one line, naming the setting to fix;
no line ever holds a password, the licence's text or a variable's value.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from redhorn.application import root_of
from redhorn.catalog.crawler import (
    CATALOG_DATABASE,
    SYSTEM_DATABASE,
    crawl_database,
    missing_data_folder,
    read_companies,
)
from redhorn.catalog.dictionary import load_dictionary, overrides_file
from redhorn.engines.base import Engine
from redhorn.engines.connect import create_engine
from redhorn.errors import (
    ApiError,
    CertificateError,
    DatabaseUnavailable,
    LicenceError,
    SettingsError,
    WrapperLoadError,
)
from redhorn.licensing.licence import load_public_key, read_licence
from redhorn.server.tls import check_certificate_pair
from redhorn.settings import (
    Settings,
    apply_environment,
    element_of,
    parse_settings,
    resolve_path,
    setting_fields,
    settings_object,
    strip_comments,
    struct_of,
    validation_problem,
)
from redhorn.writers.vbs import address_for_log

# The longest one database's check may take (a login timeout, then a ping's own limit).
DATABASE_SECONDS = 30.0
CONNECTION_STRING = "VismaConnection.VismaDbConnectionString"


@dataclass
class Report:
    """What a check found: one line per problem, and what was found working, for the summary."""

    problems: list[str] = field(default_factory=list)
    working: list[str] = field(default_factory=list)


def _rebase(message: str, path: str) -> str:
    """A msgspec error about a part, its path made the whole document's (`$.Query` + `$.MaxTop`)."""
    reason, separator, at = message.partition(" - at `$")
    return f"{reason} - at `{path}{at}" if separator else f"{message} - at `{path}`"


def _collect(value: Any, kind: Any, path: str) -> list[str]:
    """Every problem of `value` as a `kind`, in msgspec's words with the path from the document's root.

    A section is taken key by key (so one wrong key does not hide the next); the section as a whole
    is converted only when its keys hold, for the checks that span keys (an interval's ends).
    """
    struct = struct_of(kind)
    if struct is not None and isinstance(value, dict):
        fields = {info.encode_name: info for info in setting_fields(struct).values()}
        problems = [f"Object contains unknown field `{key}` - at `{path}`" for key in value if key not in fields]
        for name, info in fields.items():
            if name in value:
                problems += _collect(value[name], info.type, f"{path}.{name}")
            elif info.required:
                problems.append(f"Object missing required field `{name}` - at `{path}`")
        return problems or _convert(value, kind, path)
    element = element_of(kind)
    if element is not None and isinstance(value, list):
        problems = [
            problem for index, item in enumerate(value) for problem in _collect(item, element, f"{path}[{index}]")
        ]
        return problems or _convert(value, kind, path)
    return _convert(value, kind, path)


def _convert(value: Any, kind: Any, path: str) -> list[str]:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        return [_rebase(str(exc), path)]
    return []


def _line_number(problem: str) -> int:
    head, _, tail = problem.rpartition(", line ")
    return int(tail.rstrip(")")) if head and tail.rstrip(")").isdigit() else 0


def settings_problems(text: str, source: str, environ: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    """The settings `text` and the environment make, or every problem they have, one line each (file order)."""
    cleaned = strip_comments(text)
    document = settings_object(text)
    if document is None:
        try:
            parse_settings(text, source)  # not a JSON object: its own error, with the line
        except SettingsError as exc:
            return None, [str(exc)]
        return None, [f"{source}: the settings are not a JSON object"]
    merged, problems = apply_environment(document, environ)
    found = [validation_problem(message, cleaned, source) for message in _collect(merged, Settings, "$")]
    problems += sorted(found, key=_line_number)
    if problems:
        return None, problems
    return parse_settings(msgspec.json.encode(merged).decode(), source), []


def _cause(exc: BaseException, engine: Engine, database: str) -> str:
    """The driver's own words for a database that cannot be opened, a password it echoes blanked."""
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return f": {cause}"
    if cause is not None and type(cause).__module__ == "pyodbc":
        from redhorn.engines.odbc import OdbcEngine, connection_secrets, driver_message

        secrets = connection_secrets(engine.connection_string(database)) if isinstance(engine, OdbcEngine) else []
        return f": {driver_message(cause, secrets)}"
    return ""


async def _open(engine: Engine, name: str) -> str | None:
    """None when `name` answers a ping, else why not."""
    try:
        await asyncio.wait_for(engine.ping(name), DATABASE_SECONDS)
    except TimeoutError:
        return f"database {name!r} did not answer within {DATABASE_SECONDS:g} s"
    except ApiError as exc:
        return f"{exc.message}{_cause(exc, engine, name)}"
    return None


async def check_databases(settings: Settings, root: Path, source: str, report: Report) -> None:
    """Open vbsys, Catalog and every company database vbsys lists, as the server would."""
    try:
        engine = create_engine(settings, root, warn=False)
    except SettingsError as exc:
        report.problems.append(f"{source}: {exc}")
        return
    try:
        folder = missing_data_folder(engine)
        if folder is not None:
            report.problems.append(f"{source}: {CONNECTION_STRING}: the data folder {folder} does not exist")
            return
        names = [SYSTEM_DATABASE, CATALOG_DATABASE]
        problem = await _open(engine, SYSTEM_DATABASE)
        if problem is None:
            try:
                system = await crawl_database(engine, SYSTEM_DATABASE, "vbsys", load_dictionary())
                names += sorted(company.database for company in await read_companies(engine, system))
            except DatabaseUnavailable as exc:
                problem = f"{exc.message}{_cause(exc, engine, SYSTEM_DATABASE)}"
        results = await asyncio.gather(*(_open(engine, name) for name in names[1:]))
        opened = []
        for name, outcome in zip(names, [problem, *results], strict=True):
            if outcome is None:
                opened.append(name)
            else:
                report.problems.append(f"{source}: {CONNECTION_STRING}: {outcome}")
        if opened:
            report.working.append(f"databases open: {', '.join(opened)}")
    finally:
        await engine.close()


def _http_failure(exc: httpx.HTTPError, client: httpx.AsyncClient) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {client.timeout.connect or 0:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {client.timeout.read or 0:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (refused, or the host is not found)"
    return f"the request failed ({type(exc).__name__})"


def check_wrapper(settings: Settings, root: Path, source: str, report: Report) -> None:
    """Load Visma's wrapper assemblies as the server will, when the settings choose the wrapper writer."""
    connection = settings.visma_connection
    if connection.writer != "wrapper":
        return
    from redhorn.writers.wrapper_runtime import load_wrapper  # starts .NET only for these settings

    try:
        load_wrapper(resolve_path(connection.vbs_assembly_path, root))
    except WrapperLoadError as exc:
        report.problems.append(f"{source}: {exc}")
        return
    report.working.append("Visma's wrapper assemblies load")


async def check_vbs(settings: Settings, source: str, report: Report) -> None:
    """GET the VBS bridge's address with the integration user's credentials: any answer but a refusal
    of the credentials or a gateway's 5xx shows that writes can reach it. A GET writes nothing."""
    connection, writes = settings.visma_connection, settings.writes
    address = connection.vbs_endpoint_address
    if connection.writer == "embedded":
        return
    shown = address_for_log(address)
    timeout = httpx.Timeout(writes.vbs_timeout_seconds, connect=writes.vbs_connect_timeout_seconds)
    auth = (connection.vbs_integration_user, connection.vbs_integration_user_password)
    key = "VismaConnection.VbsEndpointAddress"
    async with httpx.AsyncClient(timeout=timeout, auth=auth) as client:
        try:
            response = await client.get(address)
        except httpx.InvalidURL:
            report.problems.append(f"{source}: {key}: not an http:// or https:// address")
            return
        except httpx.HTTPError as exc:
            report.problems.append(f"{source}: {key}: VBS at {shown} cannot be reached: {_http_failure(exc, client)}")
            return
    if response.status_code in (401, 403):
        report.problems.append(
            f"{source}: VismaConnection.VbsIntegrationUser: VBS at {shown} refuses the integration user's credentials"
        )
    elif response.status_code in (502, 503, 504):
        report.problems.append(f"{source}: {key}: VBS at {shown} is unavailable ({response.status_code})")
    else:
        report.working.append(f"VBS answers at {shown}")


def _issuer_key(settings: Settings, root: Path) -> bytes:
    text = settings.api_licence.issuer_public_key.strip()
    if not text:
        raise LicenceError("ApiLicence.IssuerPublicKey is empty: nothing can verify the licence")
    try:
        return text.encode() if text.startswith("-----BEGIN") else resolve_path(text, root).read_bytes()
    except OSError as exc:
        raise LicenceError(f"ApiLicence.IssuerPublicKey: cannot read {text!r}: {exc.strerror}") from None


async def check_licence(settings: Settings, root: Path, source: str, report: Report) -> None:
    """Judge the licence file as the server will, and reach the licence service when one is named."""
    section = settings.api_licence
    if not section.licence_file_path:
        report.working.append("unlicensed (ApiLicence.LicenceFilePath is empty)")
        return
    try:
        pem = _issuer_key(settings, root)
        public_key = load_public_key(pem)
    except LicenceError as exc:
        report.problems.append(f"{source}: {exc}")
        return
    state = read_licence(resolve_path(section.licence_file_path, root), public_key)
    if state.licence is None:
        report.problems.append(f"{source}: ApiLicence.LicenceFilePath: no valid licence: {state.reason}")
    else:
        report.working.append(f"licence {state.licence.id} valid until {state.licence.expiry_text()}")
    if not section.licence_service_base_url:
        return
    url = section.licence_service_base_url.rstrip("/") + "/api/licences/public-key"
    key = "ApiLicence.LicenceServiceBaseUrl"
    seconds = section.request_timeout_seconds
    async with httpx.AsyncClient(timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0))) as client:
        try:
            response = await client.get(url)
        except httpx.InvalidURL:
            report.problems.append(f"{source}: {key}: not an http:// or https:// address")
            return
        except httpx.HTTPError as exc:
            failure = _http_failure(exc, client)
            report.problems.append(f"{source}: {key}: the licence service cannot be reached: {failure}")
            return
    if response.status_code != 200:
        report.problems.append(f"{source}: {key}: the licence service answered {response.status_code}")
    elif response.content.strip() != pem.strip():
        report.problems.append(
            f"{source}: {key}: the licence service signs with another key than ApiLicence.IssuerPublicKey, "
            "so no licence it renews would verify"
        )
    else:
        report.working.append("the licence service answers with the issuer's key")


def check_certificate(settings: Settings, root: Path, source: str, report: Report) -> None:
    certificate = resolve_path(settings.server.certificate_file, root)
    key = resolve_path(settings.server.key_file, root)
    try:
        check_certificate_pair(certificate, key)
    except CertificateError as exc:
        report.problems.append(f"{source}: {exc}")
    else:
        report.working.append(f"TLS certificate {certificate.name} loads with its key")


@contextmanager
def _quiet() -> Iterator[None]:
    """The runtime's warnings say again what a problem line says: held back while checking."""
    logger = logging.getLogger("redhorn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check(settings_file: Path, environ: Mapping[str, str], *, tls: bool = True) -> Report:
    """Every check of the module's docstring for `settings_file`, with the overrides `environ` holds."""
    source = str(settings_file)
    report = Report()
    try:
        text = settings_file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        report.problems.append(f"{source}: cannot read the settings file: {exc.strerror}")
        return report
    settings, report.problems = settings_problems(text, source, environ)
    if settings is None:
        return report
    report.working.append("settings valid")
    root = root_of(settings_file)
    try:
        load_dictionary(overrides_file(settings_file))
    except SettingsError as exc:
        report.problems.append(str(exc))

    check_wrapper(settings, root, source, report)

    async def reach() -> None:
        await check_databases(settings, root, source, report)
        await check_vbs(settings, source, report)
        await check_licence(settings, root, source, report)

    with _quiet():
        asyncio.run(reach())
    if tls:
        check_certificate(settings, root, source, report)
    return report
