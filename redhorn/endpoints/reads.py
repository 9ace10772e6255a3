"""The resource endpoints. Each step is one call into the module that owns it:

request -> resolve (metadata) -> parse (OData) -> plan (paging) -> compile (dialect) -> execute
(engine) -> encode (msgspec).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.backends import require_principal
from redhorn.auth.principal import Principal
from redhorn.encoding import encode_json_list, encode_list, encode_row
from redhorn.endpoints.disconnect import while_connected
from redhorn.errors import DatabaseUnavailable, InvalidQuery, LicenceInvalid, RowNotFound
from redhorn.metadata import Database, Table
from redhorn.middleware.https import route_path
from redhorn.middleware.limits import header_number
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import QueryOptions, parse_query_options
from redhorn.query.paging import PageToken, query_binding, sign_page_token, verify_page_token
from redhorn.query.plan import next_page_token, plan_get
from redhorn.query.prepared import PreparedList, options_key, prepare_list
from redhorn.query.resolve import resolve_database, resolve_table
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.select import SelectQuery
from redhorn.state import State

JSON = "application/json; odata.metadata=minimal"


def _state(request: Request) -> State:
    state: State = request.app.state.redhorn
    return state


def resolve_licensed_database(state: State, segment: str, principal: Principal) -> Database:
    """`resolve_database`, then the licence; a database found missing is looked for again in the background.

    Raises:
        LicenceInvalid: no valid licence (after a look at whether the file was just replaced).
        CompanyNotLicensed: the licence does not name the company.
    """
    try:
        database = resolve_database(state.metadata, segment, principal)
    except DatabaseUnavailable:
        state.metadata_cache.schedule_recrawl()
        raise
    company_no = int(segment) if segment.isdigit() else None
    try:
        state.licence.state.require(company_no)
    except LicenceInvalid:
        state.licence.reload_if_changed().require(company_no)
    return database


def _query_string(request: Request) -> str:
    query: bytes = request.scope.get("query_string", b"")
    return query.decode("latin-1")


def _query_pairs(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(_query_string(request), keep_blank_values=True)


def _requested_page_size(request: Request, maximum: int) -> tuple[int, str | None]:
    """The page size: `Prefer: odata.maxpagesize=N` when given and smaller than the maximum.

    A value that is not plain ASCII digits (`²` passes `str.isdigit`), or is longer than any page
    could be, is not a preference redhorn can honour and is ignored, as RFC 7240 asks.
    """
    prefer = request.headers.get("prefer")
    if prefer:
        for preference in prefer.split(","):
            name, _, value = preference.strip().partition("=")
            requested = header_number(value, 9) if name.strip().lower() == "odata.maxpagesize" else None
            if requested is not None:
                size = min(max(requested, 1), maximum)
                return size, f"odata.maxpagesize={size}"
    return maximum, None


def _binding(database: str, table: Table, options: QueryOptions, user: str) -> str:
    select = ",".join(name.lower() for name in options.select) if options.select else "*"
    return query_binding(
        database, table.resource, options.filter_text, options.order_by_text, select, options.top, options.count, user
    )


def _next_link(request: Request, token: str) -> str:
    pairs = [(k, v) for k, v in _query_pairs(request) if k.lower() not in ("$skiptoken", "$skip")]
    pairs.append(("$skiptoken", token))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(36) + ',()')}" for k, v in pairs)
    return str(request.url.replace(query=query))


async def list_rows(request: Request) -> Response:
    """GET /api/{companyNo}/{resource}: a page of rows with server-driven paging."""
    state = _state(request)
    principal = require_principal(request)
    database = resolve_licensed_database(state, request.path_params["database"], principal)
    table = resolve_table(database, request.path_params["resource"])
    page_size, applied = _requested_page_size(request, state.settings.query.max_page_size)
    prepared = _prepare_list(state, database.name, table, _query_string(request), page_size, principal.username)
    options, plan = prepared.options, prepared.plan
    rows, count = await _fetch_page(request, state, database.name, prepared)
    next_link = None
    if plan.more_possible and len(rows) > plan.page_size:
        rows = rows[: plan.page_size]
        binding = _binding(database.name, table, options, user=principal.username)
        next_token = sign_page_token(state.page_token_key, binding, next_page_token(plan, rows))
        next_link = _next_link(request, next_token)
    if plan.query.json_rows:
        body = encode_json_list([row[0] for row in rows], count=count, next_link=next_link)
    else:
        body = encode_list(plan.query.columns, rows, width=len(plan.query.output), count=count, next_link=next_link)
    headers = {"Preference-Applied": applied} if applied else None
    return Response(body, media_type=JSON, headers=headers)


def _prepare_list(
    state: State, database: str, table: Table, query_string: str, page_size: int, user: str
) -> PreparedList:
    """Parse, plan and compile a list request, or take a first page prepared before."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    key = (state.metadata_cache.generation, database, table.resource, options_key(pairs), page_size)
    prepared = state.prepared.get(key)
    if prepared is not None:
        return prepared
    options = parse_query_options(pairs, state.limits)
    token: PageToken | None = None
    if options.skiptoken is not None:
        binding = _binding(database, table, options, user=user)
        token = verify_page_token(state.page_token_key, binding, options.skiptoken)
    prepared = prepare_list(state.engine.dialect, table, options, page_size=page_size, token=token)
    if token is None:
        state.prepared.put(key, prepared)
    return prepared


async def _fetch_page(
    request: Request, state: State, database: str, prepared: PreparedList
) -> tuple[list[tuple[Any, ...]], int | None]:
    engine = state.engine
    timeout = state.settings.query.statement_timeout_seconds
    if prepared.count_statement is None:
        return await while_connected(request.receive, engine.fetch(database, prepared.statement, timeout=timeout)), None
    rows, count_rows = await while_connected(
        request.receive,
        asyncio.gather(
            engine.fetch(database, prepared.statement, timeout=timeout),
            engine.fetch(database, prepared.count_statement, timeout=timeout),
        ),
    )
    return rows, int(count_rows[0][0])


def key_segments(request: Request) -> list[str]:
    """The key segments from the raw path, so that an encoded `/` (%2F) inside a key stays inside it."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = route_path(raw_path.decode("latin-1").split("?")[0], request.scope.get("root_path", ""))
    return [unquote(part) for part in path.split("/")[4:]]


async def get_row(request: Request) -> Response:
    """GET /api/{companyNo}/{resource}/{key...}: one row by its primary key; `/$count` counts."""
    state = _state(request)
    principal = require_principal(request)
    database = resolve_licensed_database(state, request.path_params["database"], principal)
    table = resolve_table(database, request.path_params["resource"])
    segments = key_segments(request)
    pairs = _query_pairs(request)
    options = parse_query_options(pairs, state.limits)
    if segments == ["$count"]:
        return await _count(request, state, database.name, table, options)
    for name, _ in pairs:
        if name.lower() not in ("$select", "$format") and name.startswith("$"):
            raise InvalidQuery(f"{name} cannot be used when reading one row by key", target=name)
    json_rows = state.engine.dialect.renders_json_rows
    body = await read_row(state, database.name, plan_get(table, segments, options.select, json_rows=json_rows))
    if body is None:
        key = "/".join(segments)
        raise RowNotFound(f"No row of {table.resource!r} has the key {key!r}")
    # The ETag names the row's version whatever `$select` shows of it, so that If-Match takes it.
    whole = (
        body
        if not options.select
        else await read_row(state, database.name, plan_get(table, segments, None, json_rows=json_rows))
    )
    tag = entity_tag(whole if whole is not None else body)
    if tag in (t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type=JSON, headers={"ETag": tag})


def entity_tag(body: bytes) -> str:
    """The row's `ETag`: a digest of its JSON, so any change to any property changes it."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


async def read_row(state: State, database: str, query: SelectQuery) -> bytes | None:
    """The JSON of the one row a by-key query finds, or None (on the lookup lane: scans never delay it)."""
    rows = await state.engine.fetch(
        database,
        compile_select(state.engine.dialect, query),
        timeout=state.settings.query.statement_timeout_seconds,
        lane="lookup",
    )
    if not rows:
        return None
    return bytes(rows[0][0]) if query.json_rows else encode_row(query.output, rows[0])


async def read_rows_where(state: State, database: str, table: Table, equal: dict[str, str]) -> list[bytes]:
    """The JSON of every row whose properties have the given values, in key order (an order's lines)."""
    terms = []
    for name, text in equal.items():
        column = table.column(name)
        numeric = column is not None and column.kind in ("integer", "decimal", "float")
        terms.append(f"{name} eq {text}" if numeric else f"{name} eq '{text.replace(chr(39), chr(39) * 2)}'")
    order = ",".join(column.name for column in table.key)
    options = parse_query_options([("$filter", " and ".join(terms)), ("$orderby", order)], state.limits)
    limit = state.settings.writes.max_rows_per_request + 1
    prepared = prepare_list(state.engine.dialect, table, options, page_size=limit, token=None)
    rows = await state.engine.fetch(
        database, prepared.statement, timeout=state.settings.query.statement_timeout_seconds
    )
    query = prepared.plan.query
    return [bytes(row[0]) if query.json_rows else encode_row(query.output, row[: len(query.output)]) for row in rows]


async def _count(request: Request, state: State, database: str, table: Table, options: QueryOptions) -> Response:
    where = bind_filter(options.filter, table) if options.filter is not None else None
    statement = compile_count(state.engine.dialect, table, where)
    timeout = state.settings.query.statement_timeout_seconds
    rows = await while_connected(request.receive, state.engine.fetch(database, statement, timeout=timeout))
    return Response(str(int(rows[0][0])), media_type="text/plain")
