"""The write endpoints: POST, PUT, PATCH and DELETE on a company's resources.

Each write flows one way: request -> resolve (metadata, access, licence) -> body (checked against
the columns, kept in its property order) -> a `WriteRequest` -> the writer (embedded, or VBS) ->
the row read back through the read path -> `{"value": ..., "messages": [...]}`.

Rows are read back after the business logic ran, through the same statement a GET by key uses,
so a write answers exactly what a later GET shows, and its `ETag` is the same.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.principal import Principal
from redhorn.encoding import WriteAnswer, encode
from redhorn.endpoints._common import JSON, entity_tag, key_segments, listed_tags, resource_url, state_of, target_of
from redhorn.errors import (
    BodyTooLarge,
    InvalidQuery,
    MalformedBody,
    PreconditionFailed,
    ReadOnlyResource,
    RowNotFound,
    WriteOutcomeUnknown,
)
from redhorn.metadata import Database, Table
from redhorn.middleware.limits import header_number
from redhorn.query.plan import parse_key, parse_key_value, plan_key
from redhorn.query.rows import read_row, read_rows_by_key_prefix, read_rows_by_key_values
from redhorn.settings import VismaConnection
from redhorn.state import State
from redhorn.writers.body import decode_body, require_json, row_write
from redhorn.writers.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyRecords,
    Resumed,
    StoredAnswer,
    fingerprint,
    outcome_unknown,
    receipt_of,
)
from redhorn.writers.model import (
    AddRows,
    Assign,
    DeleteRow,
    Join,
    RowWrite,
    UpdateRow,
    WriteContext,
    WriteRequest,
    WriteResult,
)
from redhorn.writers.rules import LINE_TABLES, plural_name

NUMBER_SERIES_OPTION = "$numberseries"
# Keys read back in one statement, at most: with the parameters a row's columns take, well below
# SQLite's and SQL Server's (2,100) limits on parameters.
KEYS_PER_READ = 200
IDEMPOTENCY_HEADER = "idempotency-key"


def _writable(state: State, request: Request) -> tuple[Principal, Database, Table, int]:
    """Who writes, and the company database and table a write names, after the same access rules as reads.

    Raises:
        ReadOnlyResource: `vbsys`, `Catalog`, or a view.
    """
    target = target_of(request, state)
    database, table = target.database, target.require_table()
    if target.company_no is None:
        raise ReadOnlyResource(f"{database.name!r} is read-only; only company databases take writes")
    if table.is_view:
        raise ReadOnlyResource(f"{table.resource!r} is a view and cannot be written", target="resource")
    return target.principal, database, table, target.company_no


def _context(connection: VismaConnection, principal: Principal, company_no: int) -> WriteContext:
    return WriteContext(company_no, principal.context_user, connection.vbs_culture_id, connection.vbs_site_id)


def _number_series(request: Request, table: Table, principal: Principal, company_no: int) -> dict[str, Any]:
    """`$numberSeries=CustomerNo,SupplierNo`: each property with the user's interval for it, if any.

    Raises:
        InvalidQuery: another query option, or a property that is not a whole-number column.
    """
    suggest: dict[str, Any] = {}
    intervals = {i.column_no: (i.interval_from, i.interval_to) for i in principal.number_series.get(company_no, ())}
    for name, value in parse_qsl(request.url.query, keep_blank_values=True):
        if name.lower() != NUMBER_SERIES_OPTION:
            raise InvalidQuery(f"{name} cannot be used on a write; only $numberSeries", target=name)
        for part in filter(None, (p.strip() for p in value.split(","))):
            column = table.column(part)
            if column is None or column.kind != "integer":
                message = f"{part!r} is not a whole-number property of {table.resource!r}"
                raise InvalidQuery(message, target="$numberSeries")
            suggest[column.name] = intervals.get(column.number) if column.number is not None else None
    return suggest


async def _read_body(request: Request, limit: int) -> Any:
    """The decoded JSON body, refused as soon as it is known to be too large."""
    content_type = request.headers.get("content-type")
    require_json(content_type)
    length = header_number(request.headers.get("content-length", ""), 18)
    if length is not None and length > limit:
        raise BodyTooLarge(f"The body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The body is larger than {limit} bytes")
        chunks.append(chunk)
    return decode_body(content_type, b"".join(chunks), max_bytes=limit)


def _line_table(database: Database, table: Table) -> Table | None:
    """The table whose rows may be nested in `table`'s rows (an order's lines), if any."""
    for line_table, head_table in LINE_TABLES.items():
        lines = database.table_by_sql_name(line_table)
        if head_table == table.sql_name and lines is not None:
            return lines
    return None


def _new_row(
    database: Database, table: Table, document: Any, suggest: dict[str, Any], limit: int
) -> tuple[RowWrite, int]:
    """One row to create with its nested lines, and how many rows that is."""
    if not isinstance(document, dict):
        raise MalformedBody(f"A row of {table.resource!r} must be a JSON object")
    lines_table = _line_table(database, table)
    nested = None
    if lines_table is not None:
        for name in list(document):
            if name.lower() == lines_table.resource.lower():
                nested = document.pop(name)
    row = row_write(table, document, suggest=suggest)
    if nested is None or lines_table is None:
        return row, 1
    if not isinstance(nested, list):
        raise MalformedBody(f"{lines_table.resource!r} must be an array of rows", target=lines_table.resource)
    if len(nested) + 1 > limit:
        raise BodyTooLarge(f"A request creates at most {limit} rows")
    link = tuple(column.sql_name for column in table.key)
    linked = [column.name for column in lines_table.key[: len(link)]]
    lines = tuple(row_write(lines_table, line, read_only=linked) for line in nested)
    join = Join(lines_table.sql_name, link, lines, lines_table.number)
    return RowWrite(row.steps, (join,)), 1 + len(lines)


async def create_rows(request: Request) -> Response:
    """POST /api/{companyNo}/{resource}: one row, or an array of rows created all or none."""
    state = state_of(request)
    principal, database, table, company_no = _writable(state, request)
    suggest = _number_series(request, table, principal, company_no)
    settings = state.settings.writes
    document = await _read_body(request, settings.max_body_bytes)
    documents = document if isinstance(document, list) else [document]
    if not documents:
        raise MalformedBody("The body is an empty array: nothing to create")
    rows, total = [], 0
    for item in documents:
        row, count = _new_row(database, table, item, suggest, settings.max_rows_per_request)
        rows.append(row)
        total += count
        if total > settings.max_rows_per_request:
            raise BodyTooLarge(f"A request creates at most {settings.max_rows_per_request} rows")
    nested, single = any(row.joins for row in rows), not isinstance(document, list)
    write = WriteRequest(
        _context(state.settings.visma_connection, principal, company_no),
        (AddRows(table.sql_name, tuple(rows), table.number),),
        projection=tuple(column.sql_name for column in table.key),
    )
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return await _create(request, state, database, table, write, nested=nested, single=single)
    scope = f"{principal.username}\n{database.name}\n{table.resource}"
    # The body's shape is part of the request: `[row]` and `row` answer differently.
    shape = b"object" if single else b"array"
    digest = fingerprint(request.url.query.encode(), shape, msgspec.json.encode(write))
    _check_idempotency_key(key)
    claim = await state.idempotency.claim(scope, key, digest)
    if isinstance(claim, StoredAnswer):
        return _replay(claim)
    receipt = receipt_of(scope, key)
    if isinstance(claim, Resumed):  # an attempt that never answered: did it write?
        if not state.writer.records_receipts:
            await state.idempotency.mark_unknown(scope, key)
            raise outcome_unknown(key)
        committed = await state.writer.find_receipt(database.name, receipt)
        if committed is not None:
            response = await _created(request, state, database, table, committed, nested=nested, single=single)
            await _store(state.idempotency, scope, key, response)
            response.headers["Idempotent-Replayed"] = "true"
            return response
    try:
        result = await state.writer.execute(database.name, write, receipt=receipt)
    except WriteOutcomeUnknown:
        await state.idempotency.mark_unknown(scope, key)
        raise
    except BaseException:
        await state.idempotency.release(scope, key)  # nothing was written: the retry may write
        raise
    response = await _created(request, state, database, table, result, nested=nested, single=single)
    await _store(state.idempotency, scope, key, response)
    return response


async def _store(store: IdempotencyRecords, scope: str, key: str, response: Response) -> None:
    location, etag = response.headers.get("location"), response.headers.get("etag")
    await store.store(scope, key, StoredAnswer(response.status_code, bytes(response.body), location, etag))


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidQuery(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", target="Idempotency-Key"
        )


def _replay(stored: StoredAnswer) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if stored.location:
        headers["Location"] = stored.location
    if stored.etag:
        headers["ETag"] = stored.etag
    return Response(stored.body, status_code=stored.status, media_type=JSON, headers=headers)


async def _create(
    request: Request,
    state: State,
    database: Database,
    table: Table,
    write: WriteRequest,
    *,
    nested: bool,
    single: bool,
) -> Response:
    """Run the create, read its rows back (with their nested lines when the body had some) and answer 201."""
    result = await state.writer.execute(database.name, write)
    return await _created(request, state, database, table, result, nested=nested, single=single)


async def _created(
    request: Request,
    state: State,
    database: Database,
    table: Table,
    result: WriteResult,
    *,
    nested: bool,
    single: bool,
) -> Response:
    """The 201 of a create that `result` describes: its rows read back as a GET shows them."""
    keys = [_key_of(table, row) for row in result.rows]
    lines_table = _line_table(database, table)
    bodies = await _read_back_rows(state, database, table, keys)
    tag = entity_tag(bodies[0])  # the row's own, as a GET of it shows, without its lines
    if nested and lines_table is not None:
        lines = await _read_back_lines(state, database, lines_table, keys)
        bodies = [_with_lines(lines_table, body, rows) for body, rows in zip(bodies, lines, strict=True)]
    location = resource_url(request) + "/" + "/".join(quote(str(value), safe="") for value in keys[0])
    if single:
        headers = {"Location": location, "ETag": tag}
        return Response(_answer(bodies[0], result), status_code=201, media_type=JSON, headers=headers)
    return Response(_answer(b"[" + b",".join(bodies) + b"]", result), status_code=201, media_type=JSON)


def _key_of(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    """The key values of a row the writer reports, each as its column's type."""
    values = []
    for column in table.key:
        value = row[column.sql_name]
        typed = isinstance(value, int) if column.kind == "integer" else isinstance(value, str)
        values.append(value if typed else parse_key_value(column, str(value)))
    return tuple(values)


async def _read_back(state: State, database: Database, table: Table, values: tuple[Any, ...]) -> bytes:
    """The row as a GET by key shows it, read by the key values the write holds."""
    query = plan_key(table, values, None, json_rows=state.engine.dialect.renders_json_rows)
    timeout = state.settings.query.statement_timeout_seconds
    body = await read_row(state.engine, database.name, query, timeout=timeout)
    if body is None:  # deleted again between the write and the read
        key = "/".join(str(value) for value in values)
        raise RowNotFound(f"No row of {table.resource!r} has the key {key!r}")
    return body


def _batched(table: Table, keys: list[tuple[Any, ...]]) -> bool:
    """Whether the rows of several heads (or their lines, by the first key column) are read back
    together: a head key of one whole-number or text column, which the database gives back as the
    write holds it."""
    return len(keys) > 1 and len(keys[0]) == 1 and table.key[0].kind in ("integer", "string")


async def _read_back_rows(state: State, database: Database, table: Table, keys: list[tuple[Any, ...]]) -> list[bytes]:
    """The rows a create made, as a GET by key shows each: one statement for many keys, in chunks.

    A key the batch does not give back exactly as asked (text the database compares without regard
    to case) is read on its own, as before.
    """
    found: dict[tuple[Any, ...], bytes] = {}
    if _batched(table, keys):
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), KEYS_PER_READ):
            chunk = tuple(key[0] for key in distinct[start : start + KEYS_PER_READ])
            rows = await read_rows_by_key_values(
                state.engine,
                database.name,
                table,
                chunk,
                limit=len(chunk),
                timeout=state.settings.query.statement_timeout_seconds,
            )
            found.update(rows)
    return [found[key] if key in found else await _read_back(state, database, table, key) for key in keys]


async def _read_back_lines(
    state: State, database: Database, lines: Table, keys: list[tuple[Any, ...]]
) -> list[list[bytes]]:
    """Each head's lines, in key order, as a GET of the lines shows them: one statement for many heads.

    A head whose lines the batch cannot surely give (the batch's limit reached, a line whose head
    value is not exactly one asked for) has its lines read on its own, as before.
    """
    limit = state.settings.writes.max_rows_per_request + 1
    timeout = state.settings.query.statement_timeout_seconds
    found: dict[tuple[Any, ...], list[bytes]] = {}
    if _batched(lines, keys):
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), KEYS_PER_READ):
            chunk = distinct[start : start + KEYS_PER_READ]
            rows = await read_rows_by_key_values(
                state.engine,
                database.name,
                lines,
                tuple(key[0] for key in chunk),
                limit=limit * len(chunk),
                timeout=timeout,
            )
            grouped: dict[tuple[Any, ...], list[bytes]] = {key: [] for key in chunk}
            if len(rows) < limit * len(chunk) and all((line[0],) in grouped for line, _ in rows):
                for line, body in rows:
                    grouped[(line[0],)].append(body)
                found.update(grouped)
    return [
        found[key][:limit] if key in found else await _lines_of(state, database, lines, key, limit, timeout)
        for key in keys
    ]


async def _lines_of(
    state: State, database: Database, lines: Table, values: tuple[Any, ...], limit: int, timeout: float
) -> list[bytes]:
    link = {column.name: value for column, value in zip(lines.key, values, strict=False)}
    return await read_rows_by_key_prefix(state.engine, database.name, lines, link, limit=limit, timeout=timeout)


def _with_lines(lines: Table, body: bytes, rows: list[bytes]) -> bytes:
    """The head's JSON with its lines under the lines' resource name."""
    return body[:-1] + b"," + encode(plural_name(lines)) + b":[" + b",".join(rows) + b"]}"


def _answer(value: bytes, result: WriteResult) -> bytes:
    messages = [m for m in result.messages if m.severity != "error"]
    return encode(WriteAnswer(msgspec.Raw(value), messages))


def _key_values(table: Table, request: Request) -> tuple[list[str], tuple[Any, ...], tuple[Assign, ...]]:
    """The key from the path: as segments, as typed values, and as the assignments the writer selects the row by.

    Raises:
        InvalidKey: too few or too many segments, or one that is not a value of its column.
    """
    segments = key_segments(request)
    values = parse_key(table, segments)
    return segments, values, tuple(Assign(c.sql_name, v, c.number) for c, v in zip(table.key, values, strict=True))


async def _expectation(
    request: Request, state: State, database: Database, table: Table, values: tuple[Any, ...]
) -> tuple[Assign, ...] | None:
    """`If-Match`: the row's values as the client saw them, to be checked in the write's transaction.

    Raises:
        RowNotFound: the row does not exist.
        PreconditionFailed: the row's current ETag is not among those `If-Match` names.
    """
    header = request.headers.get("if-match")
    if header is None:
        return None
    current = await _read_back(state, database, table, values)
    tags = listed_tags(header)
    if "*" in tags:
        return None
    if entity_tag(current) not in tags and f"W/{entity_tag(current)}" not in tags:
        raise PreconditionFailed(
            f"The row of {table.resource!r} has changed since it was read (If-Match)", target="If-Match"
        )
    seen = msgspec.json.decode(current)
    expected = []
    for name, value in seen.items():
        column = table.column(name)
        if column is not None and column.kind != "binary":
            expected.append(Assign(column.sql_name, value, column.number))
    return tuple(expected)


async def update_row(request: Request) -> Response:
    """PUT or PATCH /api/{companyNo}/{resource}/{key...}: the properties given, in body order."""
    state = state_of(request)
    principal, database, table, company_no = _writable(state, request)
    segments, values, key = _key_values(table, request)
    suggest = _number_series(request, table, principal, company_no)
    document = await _read_body(request, state.settings.writes.max_body_bytes)
    if not isinstance(document, dict):
        raise MalformedBody(f"The body of an update of {table.resource!r} must be a JSON object")
    row = row_write(table, document, suggest=suggest)
    expect = await _expectation(request, state, database, table, values)
    write = WriteRequest(
        _context(state.settings.visma_connection, principal, company_no),
        (UpdateRow(table.sql_name, key, row, table.number, expect),),
        projection=tuple(column.sql_name for column in table.key),
    )
    result = await state.writer.execute(database.name, write)
    body = await _read_back(state, database, table, values)
    return Response(_answer(body, result), media_type=JSON, headers={"ETag": entity_tag(body)})


async def delete_row(request: Request) -> Response:
    """DELETE /api/{companyNo}/{resource}/{key...}: 204; an order's lines go with it."""
    state = state_of(request)
    principal, database, table, company_no = _writable(state, request)
    segments, values, key = _key_values(table, request)
    for name, _ in parse_qsl(request.url.query, keep_blank_values=True):
        raise InvalidQuery(f"{name} cannot be used on a delete", target=name)
    expect = await _expectation(request, state, database, table, values)
    write = WriteRequest(
        _context(state.settings.visma_connection, principal, company_no),
        (DeleteRow(table.sql_name, key, table.number, expect),),
    )
    await state.writer.execute(database.name, write)
    return Response(status_code=204)
