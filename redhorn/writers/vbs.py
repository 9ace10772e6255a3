"""The VBS transport: a `WriteRequest` sent to the bridge on the Visma host, its answer mapped back.

Visma Business Services speaks SOAP over WCF `wsHttpBinding`, whose message schema only a live
installation's `mex` endpoint serves, so redhorn does not speak it directly. It sends the write
request in its documented JSON form (`vbs-write.schema.json`) to `VbsEndpointAddress`, where a
bridge built on Visma's .NET wrapper replays it as `UseTable`, `AddRow`, `Set…Value`,
`SuggestValue`, `JoinTable`, `ProjectColumns` and one `Dispatch` (see the README's table), and
answers a `WriteResult`. The integration user's credentials go as HTTP Basic authentication.

Failures keep their meaning for the client: a bridge that cannot be reached or does not answer
in time is 503 with `Retry-After`; an error message that names one of redhorn's error codes
becomes that error (a duplicate key is 409 through VBS as it is embedded); any other refusal is
502 with VBS's own messages. An endpoint that cannot be reached is also logged, one line naming
its address (never the credentials) and the failure, at most every `WARNING_INTERVAL_SECONDS`.
"""

from __future__ import annotations

import logging
import socket
import time
from decimal import Decimal

import httpx
import msgspec

from redhorn import errors as write_errors
from redhorn.encoding import ENCODER
from redhorn.errors import ApiError, CompanyNotFound, NumberSeriesExhausted, NumberSeriesMissing, RowNotFound
from redhorn.settings import Settings
from redhorn.writers.model import AddRows, DeleteRow, Message, WriteRequest, WriteResult

logger = logging.getLogger("redhorn.writers")

EMBEDDED = ("", "embedded")
WARNING_INTERVAL_SECONDS = 30.0
_encoder = ENCODER  # the bridge takes decimals as JSON numbers, as the process's encoder writes them
_result_decoder = msgspec.json.Decoder(WriteResult, float_hook=Decimal)
# The errors a bridge may name in a message's `code`, answered as redhorn answers them itself.
KNOWN_ERRORS: dict[str, type[ApiError]] = {
    error.code: error
    for error in (
        RowNotFound,
        CompanyNotFound,
        NumberSeriesExhausted,
        NumberSeriesMissing,
        write_errors.DuplicateKey,
        write_errors.KeyImmutable,
        write_errors.PreconditionFailed,
        write_errors.InvalidValue,
        write_errors.UnknownProperty,
        write_errors.MissingValue,
        write_errors.ReadOnlyResource,
        write_errors.WriterUnavailable,
    )
}


class VbsTransport:
    """Sends write requests to the bridge at `VbsEndpointAddress`, one HTTP round trip each."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        connection, writes = settings.visma_connection, settings.writes
        self.address = connection.vbs_endpoint_address
        self._shown_address = address_for_log(self.address)
        self._warned_at: float | None = None
        self._held_back = 0
        timeout = httpx.Timeout(writes.vbs_timeout_seconds, connect=writes.vbs_connect_timeout_seconds)
        self._client = httpx.AsyncClient(
            auth=(connection.vbs_integration_user, connection.vbs_integration_user_password),
            timeout=timeout,
            transport=transport,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    # VBS cannot share a transaction with redhorn: a write is either answered or of unknown outcome.
    records_receipts = False

    async def find_receipt(self, database: str, receipt: str) -> WriteResult | None:
        return None

    async def execute(self, database: str, request: WriteRequest, *, receipt: str | None = None) -> WriteResult:
        """Dispatch `request` through VBS (the company is the request's context, not `database`).

        `receipt` is not sent: the contract has no place for it, and VBS could not keep it with the write.

        Raises:
            WriterUnavailable: the bridge cannot be reached, or is unavailable (503); nothing was written.
            WriteOutcomeUnknown: the request went out and no answer came back (503); it may have been written.
            VbsFailed: VBS refused the request or answered something that is not a result (502).
            ApiError: the error a VBS message names by its code (404, 409, 412, 422).
        """
        try:
            response = await self._client.post(self.address, content=_encoder.encode(request))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._warn_unavailable(self._failure_of(exc))
            raise write_errors.WriterUnavailable("Visma Business Services cannot be reached", retry_after=5) from None
        except httpx.TimeoutException as exc:
            self._warn_unavailable(self._failure_of(exc))
            raise write_errors.WriteOutcomeUnknown(
                "Visma Business Services did not answer in time; the write may have been applied",
                retry_after=5,
            ) from None
        except httpx.TransportError as exc:  # the connection broke once the request was on its way
            self._warn_unavailable(self._failure_of(exc))
            raise write_errors.WriteOutcomeUnknown(
                "The connection to Visma Business Services broke during the write; it may have been applied",
                retry_after=5,
            ) from None
        if response.status_code in (401, 403):
            raise write_errors.VbsFailed("Visma Business Services refused the integration user's credentials")
        if response.status_code in (502, 503, 504):
            self._warn_unavailable(f"it answered {response.status_code}")
            raise write_errors.WriterUnavailable(
                f"Visma Business Services is unavailable ({response.status_code})", retry_after=5
            )
        if response.status_code != 200:
            raise write_errors.VbsFailed(f"Visma Business Services answered {response.status_code}")
        try:
            result = _result_decoder.decode(response.content)
        except msgspec.DecodeError:
            message = "Visma Business Services answered something that is not a write result"
            raise write_errors.VbsFailed(message) from None
        check_result(request, result)
        return result

    async def close(self) -> None:
        await self._client.aclose()

    def _failure_of(self, exc: httpx.TransportError) -> str:
        """What went wrong on the way to the endpoint, in words an operator can act on."""
        timeout = self._client.timeout
        if isinstance(exc, httpx.ConnectTimeout):
            return f"no connection within {timeout.connect or 0:g} s"
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {timeout.read or 0:g} s"
        if isinstance(exc, httpx.ConnectError):
            return _connect_failure(exc)
        return f"the connection failed ({type(exc).__name__})"

    def _warn_unavailable(self, failure: str) -> None:
        """Log that the endpoint is unavailable, once per `WARNING_INTERVAL_SECONDS` at most: while it
        is away every write fails alike, and a storm of them must not flood the log. The writes
        held back meanwhile are counted in the next line."""
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < WARNING_INTERVAL_SECONDS:
            self._held_back += 1
            return
        held_back = f" ({self._held_back} more failures since the last line)" if self._held_back else ""
        logger.warning(
            "Visma Business Services at %s is unavailable (%s): writes answer 503 WriterUnavailable until it "
            "answers; check that the bridge runs there, and VismaConnection.VbsEndpointAddress%s",
            self._shown_address,
            failure,
            held_back,
        )
        self._warned_at, self._held_back = now, 0


def address_for_log(address: str) -> str:
    """`scheme://host:port/path` of the endpoint: no user name, password or query, which may hold secrets."""
    try:
        url = httpx.URL(address)
    except httpx.InvalidURL:
        return "VismaConnection.VbsEndpointAddress (not a URL)"
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{host}:{port}{url.path}"


def _connect_failure(exc: httpx.ConnectError) -> str:
    """Why a connection was not made, from the socket error under httpx's (it often says only
    "All connection attempts failed")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect ({exc})"


def check_result(request: WriteRequest, result: WriteResult, *, rows: bool = True) -> None:
    """What every writer through VBS does with VBS's answer: its error messages raised as the errors
    they name (`raise_errors`), then, with `rows`, one row read back per row added or changed.

    Raises:
        ApiError: the error a message names by its code (404, 409, 412, 422).
        VbsFailed: any other error message, or rows missing from the answer (502).
    """
    raise_errors(result.messages)
    if rows:
        _check_rows(request, result)


def _check_rows(request: WriteRequest, result: WriteResult) -> None:
    """A result must read back one row per row added or changed, each with the projected columns."""
    operations = request.operations
    expected = sum(len(op.rows) if isinstance(op, AddRows) else 1 for op in operations if not isinstance(op, DeleteRow))
    if len(result.rows) != expected:
        raise write_errors.VbsFailed(
            f"Visma Business Services answered {len(result.rows)} rows for {expected} row(s) written"
        )
    for row in result.rows:
        missing = [column for column in request.projection if column not in row]
        if missing:
            raise write_errors.VbsFailed(f"Visma Business Services did not read back {', '.join(missing)}")


def raise_errors(messages: tuple[Message, ...]) -> None:
    """Raise the first error message as the error its code names, else as 502 with every error's text."""
    errors = [m for m in messages if m.severity == "error"]
    if not errors:
        return
    for message in errors:
        known = KNOWN_ERRORS.get(message.code or "")
        if known is not None:
            raise known(message.text, target=message.target)
    raise write_errors.VbsFailed("Visma Business Services refused the request: " + "; ".join(m.text for m in errors))


def error_message(error: ApiError, operation: int = 0) -> Message:
    """An error as the bridge reports it: a message with redhorn's code and target."""
    return Message("error", error.message, operation, code=error.code, target=error.target)
