"""The read endpoints: a page of rows, one row by key, and `$count`.

Each step is one call into the layer that owns it, and none comes back here:
request -> target (auth, resolve, licence) -> prepare (parse, plan, compile; cached) -> fetch
(engine) -> page (paging) -> encode (msgspec).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from redhorn.encoding import ListEnvelope, encode, encode_json_list, encode_list
from redhorn.endpoints._common import (
    JSON,
    entity_tag,
    key_segments,
    next_link,
    none_match,
    query_pairs,
    state_of,
    target_of,
)
from redhorn.endpoints.disconnect import while_connected
from redhorn.errors import InvalidQuery, RowNotFound
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import grouped_objects
from redhorn.query.expand import Expander, as_rows, plan_expand, read_expanded_row, shown_rows
from redhorn.query.paging import binding_of, cut_page, page_size_of
from redhorn.query.plan import parse_key, plan_count, plan_key
from redhorn.query.prepared import prepare_page
from redhorn.query.rows import fetch_grouped, fetch_page, read_row
from redhorn.sql.compiler import compile_count


async def list_rows(request: Request) -> Response:
    """GET /api/{companyNo}/{resource}: a page of rows with server-driven paging."""
    state = state_of(request)
    target = target_of(request, state)
    table, database = target.require_table(), target.database.name
    user = target.principal.username
    page_size, applied = page_size_of(request.headers.get("prefer"), state.settings.query.max_page_size)
    headers = {"Preference-Applied": applied} if applied else None
    pairs = query_pairs(request)
    timeout = state.settings.query.statement_timeout_seconds
    if any(name.lower() == "$apply" for name, _ in pairs):
        options = parse_query_options(pairs, state.limits)
        plan, groups, token, count = await while_connected(
            request.receive,
            fetch_grouped(
                state.engine,
                database,
                table,
                options,
                state.limits,
                state.page_token_key,
                user,
                page_size=page_size,
                timeout=timeout,
            ),
        )
        link = next_link(request, token) if token is not None else None
        grouped = ListEnvelope(
            count=msgspec.UNSET if count is None else count,
            value=grouped_objects(plan, groups),
            next_link=msgspec.UNSET if link is None else link,
        )
        return Response(encode(grouped), media_type=JSON, headers=headers)
    prepared = prepare_page(
        state.prepared,
        state.metadata_cache.generation,
        state.engine.dialect,
        state.limits,
        state.page_token_key,
        database=database,
        table=table,
        pairs=pairs,
        page_size=page_size,
        user=user,
        schema=target.database,
        max_expand_depth=state.settings.query.max_expand_depth,
    )
    rows, count = await while_connected(request.receive, fetch_page(state.engine, database, prepared, timeout=timeout))
    binding = binding_of(database, table, prepared.options, user)
    rows, token = cut_page(prepared.plan, rows, state.page_token_key, binding)
    link = next_link(request, token) if token is not None else None
    query = prepared.plan.query
    if prepared.expand:
        # The page's rows, keyed by property, get each navigation's rows: one statement per navigation.
        expander = Expander(state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows)
        page = as_rows(query.columns, rows)
        await while_connected(request.receive, expander.expand(prepared.expand, page))
        envelope = ListEnvelope(
            count=msgspec.UNSET if count is None else count,
            value=shown_rows(table, query.output, prepared.expand, page, odata=False),
            next_link=msgspec.UNSET if link is None else link,
        )
        body = encode(envelope)
    elif query.json_rows:
        body = encode_json_list([row[0] for row in rows], count=count, next_link=link)
    else:
        body = encode_list(query.columns, rows, width=len(query.output), count=count, next_link=link)
    return Response(body, media_type=JSON, headers=headers)


async def get_row(request: Request) -> Response:
    """GET /api/{companyNo}/{resource}/{key...}: one row by its primary key; `/$count` counts."""
    state = state_of(request)
    target = target_of(request, state)
    table, database = target.require_table(), target.database.name
    segments = key_segments(request)
    pairs = query_pairs(request)
    options = parse_query_options(pairs, state.limits)
    timeout = state.settings.query.statement_timeout_seconds
    if segments == ["$count"]:
        statement = compile_count(state.engine.dialect, plan_count(table, options))
        rows = await while_connected(request.receive, state.engine.fetch(database, statement, timeout=timeout))
        return Response(str(int(rows[0][0])), media_type="text/plain")
    for name, _ in pairs:
        if name.lower() not in ("$select", "$format", "$expand") and name.startswith("$"):
            raise InvalidQuery(f"{name} cannot be used when reading one row by key", target=name)
    json_rows = state.engine.dialect.renders_json_rows
    key = parse_key(table, segments)
    if options.expand_text is not None:
        nodes = plan_expand(
            target.database,
            table,
            options.expand_text,
            max_depth=state.settings.query.max_expand_depth,
            limits=state.limits,
        )
        expander = Expander(state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows)
        found = await while_connected(
            request.receive, read_expanded_row(expander, plan_key(table, key, options.select), nodes)
        )
        body = None if found is None else encode(found)
    else:
        body = await read_row(
            state.engine, database, plan_key(table, key, options.select, json_rows=json_rows), timeout=timeout
        )
    if body is None:
        raise RowNotFound(f"No row of {table.resource!r} has the key {'/'.join(segments)!r}")
    # The ETag names the row's version whatever `$select` shows of it, so that If-Match takes it.
    whole = (
        body
        if not options.select and options.expand_text is None
        else await read_row(state.engine, database, plan_key(table, key, None, json_rows=json_rows), timeout=timeout)
    )
    tag = entity_tag(whole if whole is not None else body)
    if none_match(tag, request.headers.get("if-none-match")):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type=JSON, headers={"ETag": tag})
