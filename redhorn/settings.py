"""Settings from `config/appsettings.json`, in the original product's format.

The file keeps the original section and key names (`ApiLicence`, `VismaConnection`, `ApiUsers`) and
allows `//` and `/* */` comments and trailing commas, as .NET configuration files do. What the
original kept implicit gets sections of its own: `Server` (address, TLS files, trusted proxies),
`Query` (page sizes and guards), `Tokens` (signing key and lifetime), `Compression` (answers'
content codings) and `Export` (streamed exports' CSV separator and batch size).

Settings are read once at startup into frozen Structs. A malformed file, a missing key, an unknown
key or a value of the wrong type raises `SettingsError` naming the key path and the line.
"""

from __future__ import annotations

import copy
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from redhorn.errors import SettingsError

# Ranges checked when the file is read, so that a value that parses but cannot work (a page size
# of 0, port 99999, an empty password) stops startup with the key and the line, not later.
Count = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
SecondsOrNever = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
CompanyNo = Annotated[int, msgspec.Meta(ge=1, le=9999)]
ColumnNo = Annotated[int, msgspec.Meta(ge=1)]
Required = Annotated[str, msgspec.Meta(min_length=1)]


class _Section(msgspec.Struct, frozen=True, rename="pascal", forbid_unknown_fields=True):
    pass


class NumberSerieInterval(_Section, frozen=True):
    column_no: ColumnNo
    interval_from: Annotated[int, msgspec.Meta(ge=1)]
    interval_to: Annotated[int, msgspec.Meta(ge=1)]

    def __post_init__(self) -> None:
        if self.interval_from > self.interval_to:
            raise ValueError(f"IntervalFrom {self.interval_from} is above IntervalTo {self.interval_to}")


class AccessibleCompany(_Section, frozen=True):
    company_no: CompanyNo
    number_serie_intervals: tuple[NumberSerieInterval, ...] = ()


class ApiUser(_Section, frozen=True):
    username: Required
    password: Required
    vbs_context_user: str = ""
    allow_basic_authentication: bool = True
    allow_access_to_sys_db: bool = False
    allow_access_to_catalog_db: bool = False
    accessible_companies: tuple[AccessibleCompany, ...] = ()

    def __repr__(self) -> str:  # never show the password, even in a debugger or a traceback
        return f"ApiUser(username={self.username!r})"


class ApiLicence(_Section, frozen=True):
    # Empty: redhorn runs unlicensed.
    licence_file_path: str = ""
    licence_service_base_url: str = ""
    # The licence issuer's Ed25519 public key: PEM text, or the path of a PEM file.
    issuer_public_key: str = ""
    renew_days_before_expiry: SecondsOrNever = 30.0
    check_interval_seconds: Seconds = 86400.0
    # The first pause after a failed renewal; it doubles up to the check interval.
    retry_seconds: Seconds = 60.0
    request_timeout_seconds: Seconds = 10.0


class VbsNumbers(_Section, frozen=True):
    """Visma's numbers of a table and its columns where the dictionary has none (a Data Model Extension's,
    which each installation numbers itself): the wrapper writer addresses tables and columns by number."""

    table_no: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # Column numbers by the column's SQL name.
    columns: dict[str, ColumnNo] = {}


class VismaConnection(_Section, frozen=True):
    visma_db_connection_string: Required
    default_vbs_context_user: str = "system"
    vbs_integration_user: str = ""
    vbs_integration_user_password: str = ""
    vbs_site_id: str = "Standard"
    vbs_culture_id: str = "English__UnitedKingdom"
    vbs_endpoint_address: str = ""
    # Which writer writes: "embedded" (the SQLite company databases in process), "contract" (the JSON
    # contract to a bridge at VbsEndpointAddress) or "wrapper" (Visma's .NET wrapper, in process, against
    # VbsEndpointAddress). Empty: "contract" when VbsEndpointAddress is set, else "embedded".
    vbs_writer: Literal["", "embedded", "contract", "wrapper"] = ""
    # The folder of Visma's wrapper assemblies (Visma.BusinessServices.Wrapper.dll, ...), for "wrapper".
    vbs_assembly_path: str = ""
    # Numbers for the wrapper writer where the dictionary has none, by table SQL name: {"ACME_DelRoute":
    # {"TableNo": 5001, "Columns": {"RouteNo": 1}}}.
    vbs_numbers: dict[str, VbsNumbers] = {}

    def __post_init__(self) -> None:
        address = self.vbs_endpoint_address.strip().lower() not in ("", "embedded")
        if self.vbs_writer in ("contract", "wrapper") and not address:
            raise ValueError(f"VbsWriter {self.vbs_writer!r} needs VbsEndpointAddress")
        if self.vbs_writer == "wrapper" and not self.vbs_assembly_path:
            raise ValueError("VbsWriter 'wrapper' needs VbsAssemblyPath, the folder of Visma's wrapper assemblies")

    @property
    def writer(self) -> Literal["embedded", "contract", "wrapper"]:
        """The writer these settings choose: `VbsWriter`, or when it is left out, the contract writer
        for an address in `VbsEndpointAddress` and the embedded one without."""
        if self.vbs_writer:
            return self.vbs_writer
        return "embedded" if self.vbs_endpoint_address.strip().lower() in ("", "embedded") else "contract"

    def __repr__(self) -> str:
        return "VismaConnection(...)"


class ServerSettings(_Section, frozen=True):
    host: Required = "127.0.0.1"
    port: Port = 8443
    certificate_file: str = "~/config/dev-cert.pem"
    key_file: str = "~/config/dev-key.pem"
    # Addresses of reverse proxies whose X-Forwarded-Proto/-Host headers are believed.
    trusted_proxies: tuple[str, ...] = ()
    # A request whose header names and values together are larger is refused with 431.
    max_request_header_bytes: Count = 16_384
    # A connection whose request headers are not complete this long after it opened (or after its
    # previous answer) is closed: slow clients cannot hold connections open with partial headers.
    request_header_timeout_seconds: Seconds = 5.0
    # A request whose body is not complete this long after its headers is dropped, its connection
    # closed (a body trickled a byte at a time would hold it for ever).
    request_body_timeout_seconds: Seconds = 30.0
    # Connections one worker holds at most; one more is answered 503 and closed.
    max_connections: Count = 4096
    # The address clients reach the API at, behind a proxy (https://erp.example.com/redhorn): every
    # link redhorn writes (nextLinks, Location, redirects) starts with it. Empty: the request's own.
    public_base_url: str = ""
    # On SIGTERM (Ctrl+Break on Windows) requests in flight get this long to finish; then they are cancelled.
    shutdown_timeout_seconds: Count = 30

    def __post_init__(self) -> None:
        if self.public_base_url:
            parts = urlsplit(self.public_base_url)
            if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise ValueError("PublicBaseUrl must be an https:// address with a host, and no query or fragment")


class QuerySettings(_Section, frozen=True):
    max_page_size: Count = 1000
    max_top: Count = 100_000_000
    max_filter_nodes: Count = 100
    max_filter_length: Count = 4000
    # A query string longer than this is refused with 414 before any option is parsed.
    max_query_string_bytes: Count = 8192
    statement_timeout_seconds: Seconds = 30.0
    # How often each database's schema version is read, to serve new tables and columns; 0: never.
    schema_check_seconds: SecondsOrNever = 60.0
    # Connections per database for scans; by default 1 for SQLite (more reader threads only fight
    # over Python's GIL and lose throughput) and 4 for ODBC. Reads by key have one of their own.
    pool_size: Count | None = None
    # How long a query waits for a connection of its database before 503 DatabaseBusy.
    pool_wait_seconds: Seconds = 10.0
    # `$expand`: how deep navigations nest (`OrderLines($expand=Product)` is 2), and the most rows
    # one expanded to-many navigation shows per parent row (its nested `$top` may ask for fewer).
    max_expand_depth: Count = 2
    max_expanded_rows: Count = 1000
    # Delta links: rows stamped this close to now wait for the next delta, for writes still
    # committing and for a writer's clock behind this server's (VBS on another host).
    delta_settle_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 2.0
    # SQL Server writes each row as a JSON object itself (FOR JSON), the same text redhorn writes
    # from its values; off by default. The embedded engine always does.
    json_from_database: bool = False


class TokenSettings(_Section, frozen=True):
    # Signs access tokens and `$skiptoken`s; every worker and host of one installation shares it.
    signing_key: str = ""
    lifetime_seconds: Count = 7200

    def __repr__(self) -> str:
        return f"TokenSettings(lifetime_seconds={self.lifetime_seconds})"


class AuthenticationSettings(_Section, frozen=True):
    # Failed logins allowed per username and client address within the window, then 429.
    max_failed_logins: Count = 10
    # Failed logins allowed per client address (any usernames) within the window.
    max_failed_logins_per_address: Count = 50
    failed_login_window_seconds: Count = 300
    # Where the failed logins are counted, so every worker of the host counts the same ones (a SQLite
    # file); empty: each worker counts its own. With Cluster.RedisUrl they are counted in Redis.
    failed_login_database: str = "~/data/redhorn-logins.db"


class WriteSettings(_Section, frozen=True):
    # A write body larger than this is refused with 413 before it is read to the end.
    max_body_bytes: Count = 1_048_576
    # Rows one request may create (an array of rows, or an order's nested lines, counted together).
    max_rows_per_request: Count = 1000
    # How long a write waits for another process's write to the same company database (embedded writer).
    busy_timeout_seconds: Seconds = 10.0
    # How long an answer to a POST with an `Idempotency-Key` is kept and replayed.
    idempotency_key_seconds: Count = 86_400
    # How long a retry waits (409 IdempotencyKeyInUse) for the first attempt with its key to answer
    # before asking the writer whether that attempt, which may have died, wrote anything.
    idempotency_pending_seconds: Seconds = 300.0
    # Where those answers are kept: a SQLite file every worker of the installation shares.
    idempotency_database: str = "~/data/redhorn-writes.db"
    # The VBS transport: time to connect, and to wait for VBS's answer.
    vbs_connect_timeout_seconds: Seconds = 5.0
    vbs_timeout_seconds: Seconds = 60.0
    # How long the embedded writer keeps the keys of rows it deleted, for delta links; a delta link
    # older than that is answered 410 Gone.
    tombstone_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30


class CompressionSettings(_Section, frozen=True):
    # Answers are compressed with zstd, brotli or gzip as the client's Accept-Encoding allows
    # (that order of preference); false: every answer goes out as the application wrote it.
    enabled: bool = True
    # A one-shot body smaller than this goes out uncompressed: below it, the bytes saved do not pay
    # for the time and the codec's own header. Streamed answers are compressed whatever their size.
    minimum_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1024
    # Levels chosen by `python -m bench compression` (the most bytes saved per ms spent): zstd 3 and
    # brotli 1 save 98% of a page's bytes for 2-3% of the time it takes to serve; gzip costs ~20% at
    # any level, and 3 saves the most of the levels that fast. Compression runs on the event loop of
    # the worker that serves the answer, so a higher level slows every request that worker serves.
    gzip_level: Annotated[int, msgspec.Meta(ge=1, le=9)] = 3
    brotli_quality: Annotated[int, msgspec.Meta(ge=0, le=11)] = 1
    # 20-22 are left out: their windows take up to 128 MB of memory per answer being compressed.
    zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 3


# What quotes a CSV field or ends a record cannot also separate fields.
CSV_FORBIDDEN_SEPARATORS = frozenset({'"', "\r", "\n"})


class ExportSettings(_Section, frozen=True):
    # The field separator of CSV exports: ";" where the decimal separator is a comma (Excel expects it there).
    csv_separator: Annotated[str, msgspec.Meta(min_length=1, max_length=1)] = ","
    # Rows per keyset batch of a streamed export: one query, and one chunk on the wire, per batch.
    batch_rows: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 1000

    def __post_init__(self) -> None:
        if self.csv_separator in CSV_FORBIDDEN_SEPARATORS:
            raise ValueError(
                f"CsvSeparator {self.csv_separator!r} cannot separate CSV fields: a quote or a line break ends them"
            )


_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class CorsSettings(_Section, frozen=True):
    # Origins (scheme://host[:port]) whose browser pages may call the API; empty: CORS is off, and a
    # browser lets no page of another origin read an answer. "*" allows every origin.
    allowed_origins: tuple[str, ...] = ()
    allowed_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    # Request headers a page may send (Accept, Content-Type and the other safelisted ones always).
    allowed_headers: tuple[str, ...] = (
        "Authorization",
        "Content-Type",
        "If-Match",
        "If-None-Match",
        "Prefer",
        "Idempotency-Key",
        "OData-Version",
        "OData-MaxVersion",
        "X-Request-ID",
    )
    # Answer headers a page may read besides the safelisted ones.
    exposed_headers: tuple[str, ...] = (
        "ETag",
        "Preference-Applied",
        "Location",
        "Retry-After",
        "X-Request-ID",
        "OData-Version",
        "Content-Disposition",
        "Server-Timing",
    )
    # Whether a page may send the browser's own credentials (cookies, a Basic login the browser
    # remembers). A page that sets `Authorization` itself needs no such permission.
    allow_credentials: bool = False
    # How long a browser may keep a preflight's answer.
    max_age_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 600

    def __post_init__(self) -> None:
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
                or parts.username is not None
            ):
                raise ValueError(
                    f"AllowedOrigins: {origin!r} is not an origin; write scheme://host[:port] with no path "
                    "(no trailing /), or * for every origin"
                )
        if "*" in self.allowed_origins and self.allow_credentials:
            raise ValueError("AllowedOrigins * with AllowCredentials would let every site use a visitor's login")
        for name in (*self.allowed_methods, *self.allowed_headers, *self.exposed_headers):
            if not _HTTP_TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP method or header name")


class ClusterSettings(_Section, frozen=True):
    # Several hosts behind one load balancer share failed-login counts, Idempotency-Key answers, the
    # licence renewal and news of schema changes through this Redis: redis://[:password@]host:6379/0,
    # or rediss:// over TLS. Empty: each host keeps them to itself (its workers share them in files).
    redis_url: str = ""
    # Every key redhorn keeps in Redis starts with this, so that installations can share one Redis.
    key_prefix: Required = "redhorn:"
    # How long a Redis command may take before the host treats Redis as unreachable.
    redis_timeout_seconds: Seconds = 2.0

    def __post_init__(self) -> None:
        if self.redis_url and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("RedisUrl must start with redis://, rediss:// or unix://")

    def __repr__(self) -> str:  # the URL may hold Redis's password
        return f"ClusterSettings(redis={'on' if self.redis_url else 'off'}, key_prefix={self.key_prefix!r})"


class LogSettings(_Section, frozen=True):
    # `Logs`, not ASP.NET's `Logging`, which files copied from the original product hold and which
    # stays ignored. json: one JSON object a line, for services and log shippers; text: one line
    # for a person; auto: text when the log goes to a terminal, json otherwise.
    format: typing.Literal["auto", "json", "text"] = "auto"


# The shortest `Metrics.Token`: 32 characters (`openssl rand -hex 16`) cannot be guessed by trying.
MIN_METRICS_TOKEN_LENGTH = 32


class MetricsSettings(_Section, frozen=True):
    # `/metrics` (Prometheus text format); false: the path is not served.
    enabled: bool = True
    # true: anyone who reaches the port may read it; false: only with `Authorization: Bearer <Token>`.
    public: bool = False
    # The scraper's own secret: API users hold company access, not roles, so none of them is an
    # administrator, and a scraper's credential reaches nothing but `/metrics`. Empty: not public
    # means no one reads it.
    token: str = ""

    def __post_init__(self) -> None:
        if self.token and (len(self.token) < MIN_METRICS_TOKEN_LENGTH or not self.token.isascii()):
            raise ValueError(
                f"Token must be at least {MIN_METRICS_TOKEN_LENGTH} ASCII characters (openssl rand -hex 16), or empty"
            )

    def __repr__(self) -> str:  # never show the token
        return f"MetricsSettings(enabled={self.enabled}, public={self.public})"


# Sections an ASP.NET application's appsettings.json usually holds, the original product's among
# them. redhorn has no use for them; a file copied from the original starts, with a warning each.
ASPNET_SECTIONS = ("Logging", "AllowedHosts", "Kestrel", "Urls", "Serilog", "ApplicationInsights", "ConnectionStrings")


class Settings(_Section, frozen=True):
    """Everything redhorn reads from the settings file."""

    visma_connection: VismaConnection
    api_users: tuple[ApiUser, ...] = ()
    api_licence: ApiLicence = ApiLicence()
    server: ServerSettings = ServerSettings()
    query: QuerySettings = QuerySettings()
    tokens: TokenSettings = TokenSettings()
    authentication: AuthenticationSettings = AuthenticationSettings()
    writes: WriteSettings = WriteSettings()
    compression: CompressionSettings = CompressionSettings()
    export: ExportSettings = ExportSettings()
    cors: CorsSettings = CorsSettings()
    logs: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    cluster: ClusterSettings = ClusterSettings()
    # Read and set aside (see ASPNET_SECTIONS): only whether each is there is kept, never its
    # content (ConnectionStrings may hold passwords); `ignored_sections` names them.
    logging: Any = None
    allowed_hosts: Any = None
    kestrel: Any = None
    urls: Any = None
    serilog: Any = None
    application_insights: Any = None
    connection_strings: Any = None

    def ignored_sections(self) -> list[str]:
        """The ASP.NET sections this file has, which redhorn does not use."""
        present = [getattr(self, field) is not None for field in _ASPNET_FIELDS]
        return [name for name, there in zip(ASPNET_SECTIONS, present, strict=True) if there]


def strip_comments(text: str) -> str:
    """`text` with comments and trailing commas blanked out, every other character where it was.

    Keeping positions lets a JSON error at offset N be reported at the line the user sees.
    """
    out = list(text)
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out[i:end] = " " * (end - i)
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
            continue
        elif ch == ",":
            j = i + 1
            while j < n and out[j].isspace():
                j += 1
            if j < n and out[j] in "]}":
                out[i] = " "
        i += 1
    return "".join(out)


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


_PATH_PART = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")


def _locate(text: str, path: str, field: str | None) -> int:
    """The line of the key at a msgspec error path such as `$.ApiUsers[0].Password`.

    A forward scan for each key in turn: exact enough to point a person at the right line.
    """
    position = 0
    keys = [m.group(1) for m in _PATH_PART.finditer(path) if m.group(1)]
    if field:
        keys.append(field)
    for key in keys:
        found = text.find(f'"{key}"', position)
        if found == -1:
            break
        position = found
    return _line_of(text, position)


def parse_settings(text: str, source: str = "appsettings.json") -> Settings:
    """Decode the text of a settings file.

    Raises:
        SettingsError: naming the file, the key path and the line of the first problem.
    """
    cleaned = strip_comments(text)
    try:
        settings = msgspec.json.decode(cleaned, type=Settings)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path_match = re.search(r" - at `(\$[^`]*)`$", message)
        path = path_match.group(1) if path_match else "$"
        field_match = re.search(r"(?:missing required field|unknown field) `([^`]+)`", message)
        field = field_match.group(1) if field_match else None
        where = path + (f".{field}" if field else "")
        line = _locate(cleaned, path, field if field and "unknown" in message else None)
        reason = message.split(" - at ")[0]
        raise SettingsError(f"{source}: {reason} (key {where}, line {line})") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        at = re.search(r"\(?(?:at )?byte (\d+)", message)
        line = _line_of(cleaned, int(at.group(1))) if at else 1
        raise SettingsError(f"{source}: not valid JSON: {message} (line {line})") from None
    present = {name: True for name in _ASPNET_FIELDS if getattr(settings, name) is not None}
    return msgspec.structs.replace(settings, **present) if present else settings


_ASPNET_FIELDS = (
    "logging",
    "allowed_hosts",
    "kestrel",
    "urls",
    "serilog",
    "application_insights",
    "connection_strings",
)


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and decode the settings file at `path` (see `parse_settings`), with the environment's
    overrides (`Section__Key`, see `apply_environment`) on top; `environ` defaults to the process's."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SettingsError(f"Cannot read settings file {str(path)!r}: {exc.strerror}") from None
    return parse_with_environment(text, str(path), os.environ if environ is None else environ)


def resolve_path(value: str, root: Path) -> Path:
    """A path from the settings: `~` means the application's root, as in the original product."""
    if value == "~" or value.startswith(("~/", "~\\")):
        return root / value[2:]
    return Path(value) if Path(value).is_absolute() else root / value


def parse_connection_string(value: str) -> dict[str, str]:
    """`Key=Value;Key=Value` pairs (ADO.NET/ODBC style) with keys lower-cased; `{...}` quotes values."""
    pairs: dict[str, str] = {}
    for match in re.finditer(r"\s*([^=;]+?)\s*=\s*(\{[^}]*\}|[^;]*)\s*(?:;|$)", value):
        key, raw = match.group(1), match.group(2).strip()
        pairs[key.lower()] = raw
    return pairs


DEFAULT_EMBEDDED_FOLDER = "~/data"
# The environment variable that names the settings file for the server's workers.
SETTINGS_ENV = "REDHORN_SETTINGS"


def embedded_folder(settings: Settings, root: Path) -> Path | None:
    """The folder of the embedded engine's database files, when the connection string names that engine."""
    pairs = parse_connection_string(settings.visma_connection.visma_db_connection_string)
    if pairs.get("engine", "").lower() != "sqlite":
        return None
    return resolve_path(pairs.get("data source", DEFAULT_EMBEDDED_FOLDER), root)


def embedded_database_file(folder: Path, database: str) -> Path:
    """The file of one embedded database: its name and `.db`, in the folder."""
    return folder / f"{database}.db"


# Environment overrides, in ASP.NET Core's convention: `Query__MaxPageSize=500` sets
# `Query.MaxPageSize`, `ApiUsers__0__Password` the first user's password; `__` separates the keys,
# which match in any case (Windows hands Python its variables' names upper-cased). Only variables
# whose first key is one of redhorn's sections count, so the rest of the environment is left
# alone. They apply on top of the file, before validation, so that secrets can stay out of it.
ENVIRONMENT_SEPARATOR = "__"


class _Unsettable(Exception):
    """Why one environment variable cannot set what it names; never holds the variable's value."""


def without_annotation(kind: Any) -> Any:
    return typing.get_args(kind)[0] if typing.get_origin(kind) is Annotated else kind


def _optional_of(kind: Any) -> Any | None:
    """X for `X | None` (a setting that may be null), else None."""
    members = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else ()
    others = [member for member in members if member is not type(None)]
    return others[0] if len(others) == 1 and len(members) == 2 else None


def element_of(kind: Any) -> Any | None:
    """X for a list setting (`tuple[X, ...]`), else None."""
    base = without_annotation(kind)
    if typing.get_origin(base) is tuple:
        arguments = typing.get_args(base)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return arguments[0]
    return None


def struct_of(kind: Any) -> type[msgspec.Struct] | None:
    """The settings section a setting's type is (possibly annotated), else None."""
    base = without_annotation(kind)
    return base if isinstance(base, type) and issubclass(base, msgspec.Struct) else None


def setting_fields(kind: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """A section's settings by their name in the file, lower-cased (names match in any case)."""
    return {field.encode_name.lower(): field for field in msgspec.structs.fields(kind)}


def _overridable_sections() -> set[str]:
    """Redhorn's own sections (lower-cased); the ASP.NET ones it ignores are not among them."""
    return {
        name
        for name, field in setting_fields(Settings).items()
        if struct_of(field.type) is not None or element_of(field.type) is not None
    }


def _order(parts: list[str]) -> tuple[tuple[int, int | str], ...]:
    """Variables in key order, list indexes as numbers: `__2` comes before `__10`, and items in turn."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in parts)


def environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """The variables that set a setting, each with its keys, in the order they apply."""
    sections = _overridable_sections()
    found = [
        (name, name.split(ENVIRONMENT_SEPARATOR))
        for name in environ
        if ENVIRONMENT_SEPARATOR in name and name.split(ENVIRONMENT_SEPARATOR, 1)[0].lower() in sections
    ]
    return sorted(found, key=lambda item: _order(item[1]))


def _typed(value: str, kind: Any, path: str, variable: str) -> Any:
    """The variable's text as the setting's type (a number, a boolean, a string), its range checked."""
    if element_of(kind) is not None:
        raise _Unsettable(f"{path} is a list: set its items as {variable}__0, {variable}__1, ...")
    if struct_of(kind) is not None:
        raise _Unsettable(f"{path} is a section: set its keys as {variable}__Key")
    if value == "" and _optional_of(kind) is not None:
        return None
    try:
        return msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError as exc:  # says the type and the range, never the value
        raise _Unsettable(str(exc).split(" - at ")[0]) from None


def _apply_one(document: dict[str, Any], parts: list[str], value: str, variable: str) -> None:
    node: Any = document
    kind: Any = Settings
    path = ""
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        struct = struct_of(_optional_of(kind) or kind)
        element = element_of(kind)
        key: str | int
        if struct is not None:
            field = setting_fields(struct).get(part.lower())
            if field is None:
                raise _Unsettable(f"{path} has no key {part!r}" if path else f"there is no section {part!r}")
            key, kind = field.encode_name, field.type
            path = f"{path}.{key}" if path else key
            if not isinstance(node, dict):
                raise _Unsettable(f"{path.rsplit('.', 1)[0]} in the settings file is not a section")
        elif element is not None:
            if not (part.isascii() and part.isdigit()):
                raise _Unsettable(f"{path} is a list: its items are numbered from 0, not {part!r}")
            key, kind = int(part), element
            if not isinstance(node, list):
                raise _Unsettable(f"{path} in the settings file is not a list")
            if key > len(node):
                raise _Unsettable(f"{path} has {len(node)} items: the next one is {len(node)}, not {key}")
            path = f"{path}[{key}]"
        else:
            raise _Unsettable(f"{path} is a single value: it has no keys")
        if last:
            typed = _typed(value, kind, path, variable)
            if isinstance(node, list) and key == len(node):
                node.append(typed)
            else:
                node[key] = typed
            return
        exists = isinstance(key, int) and key < len(node) if isinstance(node, list) else key in node
        child = node[key] if exists else None
        if child is None:
            child = [] if element_of(kind) is not None else {}
            if isinstance(node, list) and key == len(node):
                node.append(child)
            else:
                node[key] = child
        node = child


def apply_environment(document: dict[str, Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The settings document with every override applied, and one line per variable that cannot
    apply, naming it (`environment variable Query__MaxPageSize: Expected `int` >= 1`), never its value.

    Such a variable is left out; the others still apply.
    """
    merged = copy.deepcopy(document)
    problems: list[str] = []
    for variable, parts in environment_overrides(environ):
        try:
            _apply_one(merged, parts, environ[variable], variable)
        except _Unsettable as exc:
            problems.append(f"environment variable {variable}: {exc}")
    return merged, problems


def validation_problem(message: str, cleaned: str, source: str) -> str:
    """A msgspec validation error as `parse_settings` words it: the reason, the key path, the line."""
    path_match = re.search(r" - at `(\$[^`]*)`$", message)
    path = path_match.group(1) if path_match else "$"
    field_match = re.search(r"(?:missing required field|unknown field) `([^`]+)`", message)
    field = field_match.group(1) if field_match else None
    where = path + (f".{field}" if field else "")
    line = _locate(cleaned, path, field if field and "unknown" in message else None)
    return f"{source}: {message.split(' - at ')[0]} (key {where}, line {line})"


def settings_object(text: str) -> dict[str, Any] | None:
    """The settings file's JSON object, its comments left out; None when it is not one (the parser
    then says why, naming the line)."""
    try:
        document = msgspec.json.decode(strip_comments(text))
    except msgspec.DecodeError:
        return None
    return document if isinstance(document, dict) else None


def parse_with_environment(text: str, source: str, environ: Mapping[str, str]) -> Settings:
    """`parse_settings`, with the overrides `environ` holds applied on top of the file first.

    Raises:
        SettingsError: the file's first problem as `parse_settings` says it, or the first variable
            that cannot apply, named.
    """
    if not environment_overrides(environ):
        return parse_settings(text, source)
    cleaned = strip_comments(text)
    document = settings_object(text)
    if document is None:
        return parse_settings(text, source)  # not a JSON object: raises, naming the line
    merged, problems = apply_environment(document, environ)
    if problems:
        raise SettingsError(problems[0])
    try:
        msgspec.convert(merged, Settings)
    except msgspec.ValidationError as exc:
        raise SettingsError(validation_problem(str(exc), cleaned, source)) from None
    # Valid: decoded once more the way a file is, so that whatever `parse_settings` does after decoding applies too.
    return parse_settings(msgspec.json.encode(merged).decode(), source)
