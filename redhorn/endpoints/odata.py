"""The OData v4 service roots, `/odata/{companyNo}/` (and `/odata/vbsys/`, `/odata/catalog/`): what
Power BI's and Excel's "OData feed" and other OData clients read.

The same pipeline as `/api` (authentication, access, licence, parsing, planning, paging, engines);
only the edges differ: entity sets named in the English plural (`Orders`), keys in OData syntax
(`Orders(1001)`), `@odata.context` on every answer, typed values (`redhorn.odata.values`), and the
service document and `$metadata` (`redhorn.odata.csdl`).

Every answer, errors included, carries exactly one `OData-Version: 4.0`: clients such as Power
BI check it. Errors keep redhorn's shape, `{"error": {"code", "message", "target"}}`, which is
OData's JSON error format.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.backends import require_principal
from redhorn.encoding import ROW_DECODER, ODataPage, ServiceDocument, ServiceEntry, encode, rows_to_structs
from redhorn.endpoints._common import (
    accepts_gzip,
    delta_link,
    entity_tag,
    list_request,
    next_link,
    none_match,
    query_pairs,
    read_groups,
    read_page,
    state_of,
    unset_if_none,
)
from redhorn.endpoints.delta import delta_answer
from redhorn.endpoints.disconnect import while_connected
from redhorn.endpoints.export import export_list, negotiate, requested_format
from redhorn.errors import ApiError, InvalidQuery, MethodNotAllowed, ResourceNotFound, RowNotFound, handle_api_error
from redhorn.metadata import Database, Table
from redhorn.odata.csdl import csdl_json, csdl_xml, entity_set_name, is_served, served_tables
from redhorn.odata.keys import ResourcePath, key_values, parse_resource_path
from redhorn.odata.parser import parse_query_options
from redhorn.odata.values import convert_objects, convert_tuples, row_converters
from redhorn.query.aggregate import grouped_objects
from redhorn.query.expand import Expander, ExpandNode, as_array, as_object, plan_expand, read_expanded_row
from redhorn.query.plan import plan_count, plan_key
from redhorn.query.resolve import Target, resolve_table, resolve_target
from redhorn.query.rows import read_row
from redhorn.sql.compiler import compile_count
from redhorn.state import State

ODATA_JSON = "application/json;odata.metadata=minimal"
ODATA_VERSION = "4.0"
# Every method reaches the handlers, which refuse all but GET and HEAD with a 405 that carries OData-Version.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Options that mean something on one entity: the rest (paging, filtering) only on a set.
_ENTITY_OPTIONS = frozenset({"$select", "$format", "$expand"})

Handler = Callable[[Request], Awaitable[Response]]


class AnyPath(Convertor[str]):
    """Starlette's `path` convertor, newlines included (`.` stops at them), so that every path under a
    service root reaches its handler and is answered with `OData-Version`, a key holding `%0A` too."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


PATH_CONVERTOR = "odata_path"
register_url_convertor(PATH_CONVERTOR, AnyPath())


def odata_answer(handler: Handler) -> Handler:
    """`handler` for GET and HEAD, its errors answered here so that they too carry `OData-Version`."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(
                    f"Method {request.method!r} is not allowed: the OData service is read-only",
                    headers={"Allow": "GET, HEAD"},
                )
            response = await handler(request)
        except ApiError as exc:
            response = await handle_api_error(request, exc)
        response.headers["OData-Version"] = ODATA_VERSION
        return response

    return answer


def _database_target(request: Request, state: State) -> Target:
    """The principal and the database the path names, access and licence checked (before anything else)."""
    principal = require_principal(request)
    return resolve_target(state.metadata_cache, state.licence, principal, request.path_params["database"], None)


def service_root(request: Request) -> str:
    """The absolute URL of the service root the request is under, with its trailing slash."""
    root_path: str = request.scope.get("root_path", "")
    database = request.path_params["database"]
    return str(request.url.replace(path=f"{root_path}/odata/{database}/", query=""))


def _served_table(database: Database, name: str) -> Table:
    """The table whose entity set is `name` (any letter case).

    Raises:
        ResourceNotFound: no such entity set (tables without a key have none).
    """
    table = resolve_table(database, name)
    if not is_served(table):
        raise ResourceNotFound(f"Entity set {name!r} does not exist in {database.name!r}", target="entitySet")
    return table


# ------------------------------------------------------------------------------ service document


@odata_answer
async def service_document(request: Request) -> Response:
    """GET /odata/{companyNo}/: the entity sets of the service, as OData's service document."""
    state = state_of(request)
    database = _database_target(request, state).database
    _only_format(query_pairs(request), "the service document")
    root = service_root(request)
    entries = [ServiceEntry(name, "EntitySet", name) for name in (entity_set_name(t) for t in served_tables(database))]
    return Response(encode(ServiceDocument(root + "$metadata", entries)), media_type=ODATA_JSON)


def _only_format(pairs: list[tuple[str, str]], what: str) -> str | None:
    """The `$format` of a request that takes no other system query option.

    Raises:
        InvalidQuery: another `$` option, or `$format` given twice.
    """
    found: str | None = None
    for name, value in pairs:
        if not name.startswith("$"):
            continue
        if name.lower() != "$format":
            raise InvalidQuery(f"The query option {name!r} does not apply to {what}", target=name)
        if found is not None:
            raise InvalidQuery("The query option '$format' is given more than once", target="$format")
        found = value.strip().lower()
    return found


# ------------------------------------------------------------------------------------- $metadata


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str
    media_type: str
    gzipped: list[bytes] = field(default_factory=list)  # made on the first request that accepts gzip

    def compressed(self) -> bytes:
        if not self.gzipped:
            self.gzipped.append(gzip.compress(self.body, 6))
        return self.gzipped[0]


class MetadataDocuments:
    """`$metadata` per database and format, kept until the crawl replaces the database's metadata."""

    def __init__(self) -> None:
        self._documents: dict[tuple[str, str], tuple[Database, Document]] = {}

    def document(self, database: Database, kind: str) -> Document:
        cached = self._documents.get((database.name, kind))
        if cached is not None and cached[0] is database:
            return cached[1]
        if kind == "json":
            body, media_type = encode(csdl_json(database)), "application/json"
        else:
            body, media_type = csdl_xml(database), "application/xml"
        document = Document(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', media_type)
        self._documents[(database.name, kind)] = (database, document)
        return document


def metadata_documents(request: Request) -> MetadataDocuments:
    """The application's `$metadata` cache, made on first use."""
    documents: MetadataDocuments | None = getattr(request.app.state, "odata_metadata", None)
    if documents is None:
        documents = MetadataDocuments()
        request.app.state.odata_metadata = documents
    return documents


def metadata_format(requested: str | None, accept: str) -> str:
    """`xml` or `json`: `$format` decides, else `Accept` (JSON only when asked for and XML not).

    Raises:
        InvalidQuery: a `$format` that is neither.
    """
    if requested is not None:
        if requested in ("json", "application/json"):
            return "json"
        if requested in ("xml", "application/xml"):
            return "xml"
        raise InvalidQuery(f"Unsupported $format {requested!r} for $metadata: 'xml' or 'json'", target="$format")
    lowered = accept.lower()
    return "json" if "application/json" in lowered and "xml" not in lowered else "xml"


@odata_answer
async def metadata_document(request: Request) -> Response:
    """GET /odata/{companyNo}/$metadata: CSDL XML, or CSDL JSON with `$format=json` or `Accept: application/json`.

    Built once per database and crawl, then answered from memory with an ETag (304 on `If-None-Match`).
    """
    state = state_of(request)
    database = _database_target(request, state).database
    kind = metadata_format(_only_format(query_pairs(request), "$metadata"), request.headers.get("accept", ""))
    document = metadata_documents(request).document(database, kind)
    headers = {"ETag": document.etag, "Cache-Control": "no-cache", "Vary": "Accept, Accept-Encoding"}
    if document.etag in [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request.headers.get("accept-encoding")):
        headers["Content-Encoding"] = "gzip"
        return Response(document.compressed(), media_type=document.media_type, headers=headers)
    return Response(document.body, media_type=document.media_type, headers=headers)


# ------------------------------------------------------------------------------- entity set reads


@odata_answer
async def resource(request: Request) -> Response:
    """GET /odata/{companyNo}/{EntitySet}[/$count | (key)]: a page, a count, or one entity."""
    state = state_of(request)
    target = _database_target(request, state)
    path = parse_resource_path(request.path_params["path"])
    table = _served_table(target.database, path.entity_set)
    set_name = entity_set_name(table)
    if path.count:
        return await _count(request, state, target.database, table)
    if path.key is not None:
        return await _entity(request, state, target, table, set_name, path)
    return await _page(request, state, target, table, set_name)


def _context(
    request: Request,
    set_name: str,
    select: tuple[str, ...] | None,
    table: Table,
    suffix: str = "",
    expand: Sequence[ExpandNode] = (),
) -> str:
    """`<root>$metadata#Orders`, with the `$select`ed properties and the expanded navigations when
    there are any: `Orders(OrderNo,OrderLines(LineNo))`, `Orders(OrderLines())`, as OData 4.0 writes it."""
    names: list[str] = []
    if select and select != ("*",):
        names = [column.name for column in (table.column(name) for name in select) if column is not None]
    selected = ",".join(names + [_expanded(node) for node in expand])
    return f"{service_root(request)}$metadata#{set_name}{'(' + selected + ')' if selected else ''}{suffix}"


def _expanded(node: ExpandNode) -> str:
    """One expanded navigation in a context URL's select list, with its own selection and expansions."""
    names = [column.name for column in node.query.output] if node.selected else []
    return node.navigation.name + "(" + ",".join(names + [_expanded(child) for child in node.children]) + ")"


async def _page(request: Request, state: State, target: Target, table: Table, set_name: str) -> Response:
    """A page of the set with server-driven paging, exactly as `/api` pages it."""
    database = target.database.name
    asked = list_request(request, state)
    kind = negotiate(request.headers.get("accept"), requested_format(asked.pairs))
    if asked.delta:
        context = f"{service_root(request)}$metadata#{set_name}/$delta"
        return await delta_answer(request, state, target, table, asked, odata=True, context=context)
    if kind != "json":
        return await export_list(request, state, target, table, asked, kind, odata=True)
    headers = asked.headers
    timeout = state.settings.query.statement_timeout_seconds
    if asked.grouped:
        groups = await read_groups(request, state, target, table, asked)
        result = groups.plan.query.result
        group_objects = grouped_objects(groups.plan, groups.rows)
        convert_objects(group_objects, row_converters(result, result.columns))  # dates, times of keys and min/max
        names = ",".join(column.name for column in result.columns)
        grouped = ODataPage(
            context=f"{service_root(request)}$metadata#{set_name}({names})",
            count=unset_if_none(groups.count),
            value=group_objects,
            next_link=unset_if_none(next_link(request, groups.token) if groups.token is not None else None),
        )
        return Response(encode(grouped), media_type=ODATA_JSON, headers=headers)
    read = await read_page(request, state, target, table, asked)
    prepared, rows, count, token = read.prepared, read.rows, read.count, read.token
    headers = asked.applied(tracked=read.tracked)
    delta = delta_link(request, read.delta_token) if read.delta_token is not None else None
    query = prepared.plan.query
    converters = row_converters(table, query.output)
    value: Any
    if prepared.expand:
        expander = Expander(
            state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows, odata=True
        )
        value = as_array(await while_connected(request.receive, expander.render(query, prepared.expand, rows)))
    elif query.json_rows:
        joined = b"[" + b",".join(bytes(row[0]) for row in rows) + b"]"
        if converters:
            objects: list[dict[str, Any]] = ROW_DECODER.decode(joined)
            convert_objects(objects, converters)
            value = objects
        else:
            value = msgspec.Raw(joined)
    else:
        width = len(query.output)
        value = rows_to_structs(query.output, convert_tuples(rows, width, converters))
    page = ODataPage(
        context=_context(request, set_name, prepared.options.select, table, expand=prepared.expand),
        count=unset_if_none(count),
        value=value,
        next_link=unset_if_none(next_link(request, token) if token is not None else None),
        delta_link=unset_if_none(delta),
    )
    return Response(encode(page), media_type=ODATA_JSON, headers=headers)


async def _count(request: Request, state: State, database: Database, table: Table) -> Response:
    """`/$count`: the rows `$filter` keeps, as plain text."""
    options = parse_query_options(query_pairs(request), state.limits)
    statement = compile_count(state.engine.dialect, plan_count(table, options))
    timeout = state.settings.query.statement_timeout_seconds
    rows = await while_connected(request.receive, state.engine.fetch(database.name, statement, timeout=timeout))
    return Response(str(int(rows[0][0])), media_type="text/plain")


async def _entity(
    request: Request, state: State, target: Target, table: Table, set_name: str, path: ResourcePath
) -> Response:
    """One entity by its key, `Orders(1001)` or `OrderLines(OrderNo=1001,LineNo=2)`."""
    assert path.key is not None
    pairs = query_pairs(request)
    for name, _ in pairs:
        if name.startswith("$") and name.lower() not in _ENTITY_OPTIONS:
            raise InvalidQuery(f"{name} cannot be used when reading one entity by key", target=name)
    options = parse_query_options(pairs, state.limits)
    if options.format not in (None, "json"):
        raise InvalidQuery(f"$format {options.format!r} is for entity sets; an entity is JSON", target="$format")
    values = key_values(table, path.key, set_name)
    query = plan_key(table, values, options.select, json_rows=state.engine.dialect.renders_json_rows)
    timeout = state.settings.query.statement_timeout_seconds
    json_rows = state.engine.dialect.renders_json_rows
    database = target.database.name
    row: dict[str, Any] | None
    nodes: tuple[ExpandNode, ...] = ()
    if options.expand_text is not None:
        nodes = plan_expand(
            target.database,
            table,
            options.expand_text,
            max_depth=state.settings.query.max_expand_depth,
            limits=state.limits,
            json_rows=json_rows,
        )
        expander = Expander(
            state.engine, database, timeout=timeout, max_rows=state.settings.query.max_expanded_rows, odata=True
        )
        found = await while_connected(request.receive, read_expanded_row(expander, query, nodes))
        row = None if found is None else as_object(found)
    else:
        body = await while_connected(request.receive, read_row(state.engine, database, query, timeout=timeout))
        row = None if body is None else ROW_DECODER.decode(body)
        if row is not None:
            convert_objects([row], row_converters(table, query.output))
    if row is None:
        raise RowNotFound(f"No entity of {set_name!r} has the key ({path.key[:200]})", target="key")
    # The same tag `/api` gives the row (a digest of the whole row as stored), so that a client may
    # read here and write through `/api` with If-Match.
    whole = await read_row(state.engine, database, plan_key(table, values, None, json_rows=json_rows), timeout=timeout)
    tag = entity_tag(whole) if whole is not None else None
    headers = {"ETag": tag} if tag else None
    if tag and none_match(tag, request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    context = _context(request, set_name, options.select, table, "/$entity", expand=nodes)
    annotations = {"@odata.context": context, **({"@odata.etag": tag} if tag else {})}
    return Response(encode({**annotations, **row}), media_type=ODATA_JSON, headers=headers)
