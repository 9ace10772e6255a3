"""The read endpoints: a page of rows, one row by key, and `$count`.

Each step is one call into the layer that owns it, and none comes back here:
request -> target (auth, resolve, licence) -> prepare (parse, plan, compile; cached) -> fetch
(engine) -> page (paging) -> encode (msgspec).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from redhorn.encoding import ListEnvelope, encode, encode_json_list, encode_list
from redhorn.endpoints._common import (
    JSON,
    delta_link,
    entity_tag,
    key_segments,
    list_request,
    next_link,
    none_match,
    query_pairs,
    read_groups,
    read_page,
    state_of,
    target_of,
    unset_if_none,
)
from redhorn.endpoints.delta import delta_answer
from redhorn.endpoints.disconnect import while_connected
from redhorn.endpoints.export import export_list, negotiate, requested_format
from redhorn.errors import InvalidQuery, RowNotFound
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import grouped_objects
from redhorn.query.expand import Expander, as_array, as_bytes, plan_expand, read_expanded_row
from redhorn.query.plan import parse_key, plan_count, plan_key
from redhorn.query.rows import read_row
from redhorn.sql.compiler import compile_count


async def list_rows(request: Request) -> Response:
    """GET /api/{companyNo}/{resource}: a page of rows with server-driven paging."""
    state = state_of(request)
    target = target_of(request, state)
    table, database = target.require_table(), target.database.name
    asked = list_request(request, state)
    kind = negotiate(request.headers.get("accept"), requested_format(asked.pairs))
    if asked.delta:
        return await delta_answer(request, state, target, table, asked, odata=False)
    if kind != "json":
        return await export_list(request, state, target, table, asked, kind, odata=False)
    headers = asked.headers
    if asked.grouped:
        groups = await read_groups(request, state, target, table, asked)
        grouped = ListEnvelope(
            count=unset_if_none(groups.count),
            value=grouped_objects(groups.plan, groups.rows),
            next_link=unset_if_none(next_link(request, groups.token) if groups.token is not None else None),
        )
        return Response(encode(grouped), media_type=JSON, headers=headers)
    page = await read_page(request, state, target, table, asked)
    prepared, rows, count = page.prepared, page.rows, page.count
    link = next_link(request, page.token) if page.token is not None else None
    delta = delta_link(request, page.delta_token) if page.delta_token is not None else None
    headers = asked.applied(tracked=page.tracked)
    timeout = state.settings.query.statement_timeout_seconds
    query = prepared.plan.query
    if prepared.expand:
        # The page's rows, keyed by property, get each navigation's rows: one statement per navigation.
        expander = Expander(state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows)
        rendered = await while_connected(request.receive, expander.render(query, prepared.expand, rows))
        envelope = ListEnvelope(
            count=unset_if_none(count),
            value=as_array(rendered),
            next_link=unset_if_none(link),
            delta_link=unset_if_none(delta),
        )
        body = encode(envelope)
    elif query.json_rows:
        body = encode_json_list([row[0] for row in rows], count=count, next_link=link, delta_link=delta)
    else:
        body = encode_list(query.columns, rows, width=len(query.output), count=count, next_link=link, delta_link=delta)
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
    if options.format not in (None, "json"):
        raise InvalidQuery(f"$format {options.format!r} is for lists; a row is JSON", target="$format")
    json_rows = state.engine.dialect.renders_json_rows
    key = parse_key(table, segments)
    if options.expand_text is not None:
        nodes = plan_expand(
            target.database,
            table,
            options.expand_text,
            max_depth=state.settings.query.max_expand_depth,
            limits=state.limits,
            json_rows=state.engine.dialect.renders_json_rows,
        )
        expander = Expander(state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows)
        found = await while_connected(
            request.receive,
            read_expanded_row(expander, plan_key(table, key, options.select, json_rows=json_rows), nodes),
        )
        body = None if found is None else as_bytes(found)
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
