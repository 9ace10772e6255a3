"""Streamed exports of a list, on both roots: the whole result as NDJSON or CSV in one response.

Scripts that copy a table into a warehouse want every row, not pages: `Accept:
application/x-ndjson` or `text/csv` (or `$format=ndjson|csv`) answers with all the rows a list
request selects, in its order, read in keyset batches (`redhorn.query.export`) and written out
batch by batch, so memory holds one batch whatever the table's size.

- **NDJSON**: one JSON object a line, exactly the objects a page's `value` holds on that root.
- **CSV** as Excel opens it: UTF-8 with a byte-order mark (or Excel guesses the code page), a
  header row of property names, RFC 4180 quoting, CRLF line ends, and the separator of the
  `Export.CsvSeparator` setting (`;` where the decimal separator is a comma).

An `Accept` that names neither JSON nor these is 406 with the JSON error shape.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive

from redhorn.encoding import ENCODER, ROW_DECODER, rows_to_structs
from redhorn.endpoints._common import ListRequest, delta_link
from redhorn.endpoints.disconnect import while_connected
from redhorn.errors import InvalidQuery, NotAcceptable
from redhorn.metadata import Column, Table
from redhorn.odata.parser import FORMATS, parse_query_options
from redhorn.odata.values import Converter, convert_objects, convert_tuples, row_converters
from redhorn.query.delta import delta_binding, sign_delta_token, start_token, trackable
from redhorn.query.export import Batch, export_batches
from redhorn.query.plan import select_columns
from redhorn.query.resolve import Target
from redhorn.state import State

NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8; header=present"

# Media ranges each representation answers, most specific first; `*/*` and `application/*` are JSON.
_RANGES = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "text/csv": "csv",
    "application/*": "json",
    "text/*": "csv",
    "*/*": "json",
}
MAX_ACCEPT_RANGES = 64


def negotiate(accept: str | None, requested: str | None) -> str:
    """ "json" (a page), "ndjson" or "csv" (a stream): `$format` decides, else the best of `Accept`.

    The range with the highest quality wins; at equal quality an exact type beats `type/*`, which
    beats `*/*`, and then the one listed first. No `Accept` (or an empty one) is JSON.

    Raises:
        NotAcceptable: `Accept` names nothing a list can be answered as.
    """
    if requested is not None:
        return requested
    if not accept or not accept.strip():
        return "json"
    best: tuple[float, int, int, str] | None = None
    for position, item in enumerate(accept.split(",")[:MAX_ACCEPT_RANGES]):
        media, _, parameters = item.partition(";")
        kind = _RANGES.get(media.strip().lower())
        quality = _quality(parameters)
        if kind is None or quality <= 0:
            continue
        specific = 2 - media.count("*")
        candidate = (quality, specific, -position, kind)
        if best is None or candidate[:3] > best[:3]:
            best = candidate
    if best is None:
        raise NotAcceptable(
            f"Cannot answer a list as {accept[:200]!r}: application/json, {NDJSON} or text/csv", target="Accept"
        )
    return best[3]


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def check_streamable(kind: str, *, expand: bool, apply: bool, skiptoken: bool) -> None:
    """A stream is the whole result of a plain list: no `$expand`, `$apply` or `$skiptoken`.

    Raises:
        InvalidQuery: naming the option that cannot go with it.
    """
    for given, option in ((expand, "$expand"), (apply, "$apply"), (skiptoken, "$skiptoken")):
        if given:
            raise InvalidQuery(f"{option} cannot be used with a streamed {kind} export", target=option)


def ndjson_lines(query_rows: Batch, converters: tuple[tuple[int, str, Converter], ...]) -> bytes:
    """A batch as NDJSON: each row's JSON object on a line of its own."""
    query, rows = query_rows
    if query.json_rows and not converters:
        return b"\n".join(bytes(row[0]) for row in rows) + b"\n"
    if query.json_rows:
        objects: list[dict[str, Any]] = ROW_DECODER.decode(b"[" + b",".join(bytes(row[0]) for row in rows) + b"]")
        convert_objects(objects, converters)
        return b"".join(ENCODER.encode(item) + b"\n" for item in objects)
    width = len(query.output)
    structs = rows_to_structs(query.output, convert_tuples(rows, width, converters))
    return b"".join(ENCODER.encode(item) + b"\n" for item in structs)


def csv_text(value: Any) -> str:
    """A value as a CSV cell: null empty, decimals in full without exponent, bytes as base64."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


class CsvWriter:
    """CSV text of batches, the header row and the byte-order mark before the first."""

    def __init__(self, output: Sequence[Column], separator: str) -> None:
        self.output = output
        self.separator = separator
        self.started = False

    def batch(self, query_rows: Batch, converters: tuple[tuple[int, str, Converter], ...]) -> bytes:
        query, rows = query_rows
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.separator, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        if not self.started:
            buffer.write("\ufeff")
            writer.writerow(column.name for column in self.output)
            self.started = True
        width = len(query.output)
        for row in convert_tuples(rows, width, converters):
            writer.writerow(csv_text(value) for value in row[:width])
        return buffer.getvalue().encode("utf-8")

    def header(self) -> bytes:
        """The start of an export with no rows: the byte-order mark and the header row."""
        if self.started:
            return b""
        self.started = True
        buffer = io.StringIO()
        buffer.write("\ufeff")
        csv.writer(buffer, delimiter=self.separator, lineterminator="\r\n").writerow(c.name for c in self.output)
        return buffer.getvalue().encode("utf-8")


async def encoded(
    kind: str,
    batches: AsyncIterator[Batch],
    *,
    output: Sequence[Column],
    converters: tuple[tuple[int, str, Converter], ...],
    separator: str,
    trailer: bytes = b"",
) -> AsyncIterator[bytes]:
    """The stream's bytes, batch by batch; `trailer` (an NDJSON delta link line) after the last."""
    writer = CsvWriter(output, separator) if kind == "csv" else None
    async for batch in batches:
        yield writer.batch(batch, converters) if writer is not None else ndjson_lines(batch, converters)
    if writer is not None:
        yield writer.header()
    if trailer:
        yield trailer


def stream_response(kind: str, body: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> StreamingResponse:
    """The streamed answer; `Content-Disposition` names a file for browsers that save it."""
    media_type = NDJSON if kind == "ndjson" else CSV
    return StreamingResponse(body, media_type=media_type, headers=headers)


def requested_format(pairs: Sequence[tuple[str, str]]) -> str | None:
    """What `$format` names among the query pairs; an unknown value is reported by the option parser."""
    for name, value in pairs:
        if name.lower() == "$format":
            return FORMATS.get(value.strip().lower(), "json")
    return None


async def primed(batches: AsyncIterator[Batch], receive: Receive) -> AsyncIterator[Batch]:
    """`batches` with the first already read, so that a bad query or an unreachable database is a JSON
    error before any byte of the answer is sent (the first read stops if the client leaves)."""
    first: Batch | None = await while_connected(receive, anext(batches, None))

    async def rest() -> AsyncIterator[Batch]:
        if first is not None:
            yield first
            async for batch in batches:
                yield batch

    return rest()


async def export_list(
    request: Request,
    state: State,
    target: Target,
    table: Table,
    asked: ListRequest,
    kind: str,
    *,
    odata: bool,
) -> StreamingResponse:
    """GET a list as a stream of every row it selects: NDJSON or CSV, on `/api` as stored, on `/odata` typed.

    Raises:
        InvalidQuery: a malformed option, or one a stream cannot take (`$expand`, `$apply`, `$skiptoken`).
    """
    options = parse_query_options(asked.pairs, state.limits)
    check_streamable(
        kind,
        expand=options.expand_text is not None,
        apply=options.apply_text is not None,
        skiptoken=options.skiptoken is not None,
    )
    output = select_columns(table, options.select)
    converters = row_converters(table, output) if odata else ()
    database, timeout = target.database.name, state.settings.query.statement_timeout_seconds
    trailer = b""
    tracked = asked.track_changes and kind == "ndjson" and trackable(table)
    if tracked:
        # Fixed before the first row is read: a row changed while the stream runs is in the next delta.
        start = await while_connected(
            request.receive,
            start_token(
                state.engine,
                database,
                table,
                now=dt.datetime.now(),
                timeout=timeout,
                settle=state.settings.query.delta_settle_seconds,
            ),
        )
        binding = delta_binding(database, table, options, target.principal.username)
        link = delta_link(request, sign_delta_token(state.page_token_key, binding, start))
        trailer = ENCODER.encode({"@odata.deltaLink": link}) + b"\n"
    batches = export_batches(
        state.engine,
        database,
        table,
        options,
        batch_rows=state.settings.export.batch_rows,
        json_rows=kind == "ndjson" and state.engine.dialect.renders_json_rows,
        timeout=timeout,
    )
    body = encoded(
        kind,
        await primed(batches, request.receive),
        output=output,
        converters=converters,
        separator=state.settings.export.csv_separator,
        trailer=trailer,
    )
    filename = f"{table.resource}.{'csv' if kind == 'csv' else 'ndjson'}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if tracked:  # a stream has no pages: `odata.maxpagesize` does not apply to it
        headers["Preference-Applied"] = "odata.track-changes"
    return stream_response(kind, body, headers)
