"""GET a delta link: the rows changed and the keys of rows deleted since, on both roots.

The planning and the reading are `redhorn.query.delta`'s; here the page is answered. A delta page
holds first `{"@removed": {"reason": "deleted"}, <key>}` entries, then the changed rows as a page
of the same root shows them, `@redhorn.deletionsTracked`, and `@odata.nextLink` or, on its last
page, the next `@odata.deltaLink`. On `/odata` its context is `$metadata#<set>/$delta`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from redhorn.encoding import ROW_DECODER, DeltaPage, encode, rows_to_structs
from redhorn.endpoints._common import JSON, ListRequest, delta_link
from redhorn.endpoints.disconnect import while_connected
from redhorn.metadata import Table
from redhorn.odata.parser import parse_query_options
from redhorn.odata.values import convert_objects, convert_tuples, row_converters
from redhorn.query.delta import (
    check_delta_options,
    delta_binding,
    open_delta_token,
    read_delta,
    sign_delta_token,
)
from redhorn.query.resolve import Target
from redhorn.state import State

ODATA_JSON = "application/json;odata.metadata=minimal"
_REMOVED = {"reason": "deleted"}


async def delta_answer(
    request: Request, state: State, target: Target, table: Table, asked: ListRequest, *, odata: bool, context: str = ""
) -> Response:
    """One page of the delta a `$deltatoken` names.

    Raises:
        InvalidQuery: an option a delta link does not take, or a table without change stamps.
        InvalidDeltaToken: a token this server did not make for this very query and user.
        DeltaTokenExpired: the deletions since the token are no longer all remembered (410).
    """
    options = parse_query_options(asked.pairs, state.limits)
    check_delta_options(options)
    assert options.deltatoken is not None
    database, user = target.database.name, target.principal.username
    binding = delta_binding(database, table, options, user)
    token = open_delta_token(state.page_token_key, binding, options.deltatoken)
    page = await while_connected(
        request.receive,
        read_delta(
            state.engine,
            database,
            table,
            options,
            token,
            page_size=asked.page_size,
            json_rows=state.engine.dialect.renders_json_rows,
            now=dt.datetime.now(),
            timeout=state.settings.query.statement_timeout_seconds,
            settle=state.settings.query.delta_settle_seconds,
        ),
    )
    key_names = [column.name for column in table.key]
    value: list[Any] = [{"@removed": _REMOVED, **dict(zip(key_names, key, strict=True))} for key in page.removed]
    value.extend(_rows(page.query, page.rows, table, odata=odata))
    following = page.next_token or page.delta_token
    link = delta_link(request, sign_delta_token(state.page_token_key, binding, following)) if following else None
    answer = DeltaPage(
        context=context or msgspec.UNSET,
        deletions_tracked=page.deletions_tracked,
        value=value,
        next_link=link if page.next_token is not None and link else msgspec.UNSET,
        delta_link=link if page.delta_token is not None and link else msgspec.UNSET,
    )
    return Response(encode(answer), media_type=ODATA_JSON if odata else JSON, headers=asked.headers)


def _rows(query: Any, rows: list[tuple[Any, ...]], table: Table, *, odata: bool) -> list[Any]:
    """The changed rows as a page of the root shows them: the engine's JSON as it is, or typed for `/odata`."""
    converters = row_converters(table, query.output) if odata else ()
    if query.json_rows and not converters:
        return [msgspec.Raw(bytes(row[0])) for row in rows]
    if query.json_rows:
        objects: list[dict[str, Any]] = [ROW_DECODER.decode(row[0]) for row in rows]
        convert_objects(objects, converters)
        return objects
    return rows_to_structs(query.output, convert_tuples(rows, len(query.output), converters))
