"""`$expand` planned and run: one statement per expanded navigation per page, never one per row.

A page is read first; then, for each navigation `$expand` names, the page's distinct linking
values are collected and the related rows read at once with `WHERE link IN (bound list)` (for a
link of several columns, an OR of ANDs), with the nested `$filter` and the nested `$orderby` (the
target's key after it). Nested expansions run the same way over all rows the level above read.
Rows are then handed out to their parents in Python: a to-one gets the first match (or null), a
to-many its matches in order, cut to its nested `$top` and to `Query.MaxExpandedRows`.

Where the engine renders rows as JSON, each level is read so and its navigations are spliced into
the bytes of its rows: the nested rows are never decoded into Python objects, which is what made
an expanded page cost many times the page without it.

SQL Server takes at most 2,100 parameters a statement, so the bound list is cut into chunks of at
most `MAX_LINK_PARAMETERS` parameters: a page of up to 1,000 rows with one linking column still
reads each navigation in one statement.

The condition is the bound syntax tree a `$filter` gives (`In` over a `Property`, `Compare` and
`BoolOp`), so the compiler writes it as it writes every filter, for both dialects.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from redhorn.encoding import ENCODER, ROW_DECODER
from redhorn.engines.base import Engine
from redhorn.errors import InvalidQuery
from redhorn.metadata import Column, Database, Table
from redhorn.odata.ast import BoolOp, Compare, Expression, In, Literal, Property
from redhorn.odata.binder import bind_filter
from redhorn.odata.expand import ExpandItem, Navigation, navigation, navigations, parse_expand
from redhorn.odata.parser import DEFAULT_LIMITS, QueryLimits
from redhorn.odata.values import row_converters
from redhorn.query.plan import can_render_json, order_columns, select_columns
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import SelectQuery

# Parameters of the linking list in one statement: well under SQL Server's 2,100, leaving room
# for the nested `$filter`'s own.
MAX_LINK_PARAMETERS = 1000

Row = dict[str, Any]


class ExpandNode(msgspec.Struct, frozen=True):
    """One navigation to read: the query without its linking condition, and what to do with its rows.

    `query.columns` are the columns read (the output first), `query.output` what the client sees.
    """

    navigation: Navigation
    query: SelectQuery
    top: int | None
    children: tuple[ExpandNode, ...] = ()
    # Whether the nested `$select` chose the properties (else all are shown): OData's context URL names them.
    selected: bool = False


def link_columns(nodes: Sequence[ExpandNode]) -> tuple[str, ...]:
    """The property names a parent row must carry so that `nodes` can find their rows."""
    names: list[str] = []
    for node in nodes:
        for name in node.navigation.source_columns:
            if name not in names:
                names.append(name)
    return tuple(names)


def with_columns(table: Table, columns: tuple[Column, ...], names: Sequence[str]) -> tuple[Column, ...]:
    """`columns`, then the columns named `names` not among them (read, not shown)."""
    extra: list[Column] = []
    for name in names:
        column = table.column(name)
        if column is not None and column not in columns and column not in extra:
            extra.append(column)
    return columns + tuple(extra)


def plan_expand(
    database: Database,
    table: Table,
    text: str,
    *,
    max_depth: int,
    limits: QueryLimits = DEFAULT_LIMITS,
    json_rows: bool = False,
) -> tuple[ExpandNode, ...]:
    """`$expand` text planned against `table`'s navigations.

    Args:
        json_rows: the engine can render rows as JSON objects; each navigation whose columns allow
            it reads its rows so, with the linking and order columns after the JSON.

    Raises:
        ODataError / InvalidQuery: malformed text, an unknown navigation, nesting past `max_depth`,
            an unknown property or an ill-typed `$filter` inside; target `$expand`, naming the culprit.
    """
    return tuple(
        _plan(database, table, item, table.resource, json_rows)
        for item in parse_expand(text, max_depth=max_depth, limits=limits)
    )


def _plan(database: Database, table: Table, item: ExpandItem, path: str, json_rows: bool) -> ExpandNode:
    found = navigation(database, table, item.name)
    if found is None:
        known = ", ".join(n.name for n in navigations(database, table)[:12]) or "none"
        raise InvalidQuery(
            f"Unknown navigation property {item.name!r} of {table.resource!r} in $expand (known: {known})",
            target="$expand",
        )
    target = database.table(_resource_of(database, found.target))
    assert target is not None, "navigations lead only to tables of the database"
    where_path = f"{path}/{found.name}"
    try:
        output = select_columns(target, item.select)
        order = order_columns(target, item.order_by)
        where = bind_filter(item.filter, target) if item.filter is not None else None
    except InvalidQuery as exc:
        raise InvalidQuery(f"In $expand of {where_path!r}: {exc.message}", target="$expand") from None
    children = tuple(_plan(database, target, child, where_path, json_rows) for child in item.expand)
    needed = (*found.target_columns, *link_columns(children), *(entry.column.name for entry in order))
    json_rows = json_rows and can_render_json(output)
    columns = with_columns(target, () if json_rows else output, needed)
    query = SelectQuery(table=target, columns=columns, output=output, json_rows=json_rows, where=where, order=order)
    return ExpandNode(found, query, item.top, children, selected=bool(item.select) and item.select != ("*",))


def _resource_of(database: Database, name: str) -> str:
    for table in database.tables:
        if table.name == name:
            return table.resource
    raise AssertionError(f"no table named {name!r}")  # pragma: no cover - navigations are built from these


def link_condition(navigation: Navigation, links: Sequence[tuple[Any, ...]]) -> Expression:
    """`col IN (...)` for a one-column link; `(a = ? AND b = ?) OR ...` for several."""
    columns = navigation.target_columns
    if len(columns) == 1:
        return In(Property(columns[0]), tuple(Literal(link[0]) for link in links))
    condition: Expression | None = None
    for link in links:
        term: Expression | None = None
        for name, value in zip(columns, link, strict=True):
            compare = Compare("eq", Property(name), Literal(value))
            term = compare if term is None else BoolOp("and", term, compare)
        assert term is not None
        condition = term if condition is None else BoolOp("or", condition, term)
    assert condition is not None, "links are never empty here"
    return condition


def chunks(navigation: Navigation, links: Sequence[tuple[Any, ...]]) -> list[Sequence[tuple[Any, ...]]]:
    """`links` cut so that no statement binds more than `MAX_LINK_PARAMETERS` linking values."""
    size = max(MAX_LINK_PARAMETERS // len(navigation.target_columns), 1)
    return [links[start : start + size] for start in range(0, len(links), size)]


def statement_query(node: ExpandNode, links: Sequence[tuple[Any, ...]]) -> SelectQuery:
    """The node's query with the linking condition for `links` (and the nested `$filter`) as its WHERE."""
    condition = link_condition(node.navigation, links)
    where = condition if node.query.where is None else BoolOp("and", node.query.where, condition)
    return msgspec.structs.replace(node.query, where=where)


def _is_none(value: Any) -> bool:
    """Visma's "no reference": null, 0 or empty text."""
    return value is None or value == 0 or (isinstance(value, str) and not value.strip())


def _no_reference(values: tuple[Any, ...]) -> bool:
    """A link that leads nowhere: any part null, or every part Visma's "none"."""
    return any(value is None for value in values) or all(_is_none(value) for value in values)


def _group_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Linking values as both engines compare them: text without letter case or trailing spaces."""
    return tuple(
        value.rstrip().casefold()
        if isinstance(value, str)
        else (int(value) if isinstance(value, float | Decimal) and value == int(value) else value)
        for value in values
    )


def column_index(query: SelectQuery) -> dict[str, int]:
    """Where each of the query's read columns sits in a fetched row (after the JSON, when rows are JSON)."""
    first = 1 if query.json_rows else 0
    index: dict[str, int] = {}
    for position, column in enumerate(query.columns):
        index.setdefault(column.name, first + position)
    return index


# A rendered row: the JSON object's UTF-8 bytes, or a mapping of property to value.
Rendered = bytes | Row
# What a parent's navigation holds: its rows (to-many), one row or None (to-one).
Nested = list[Rendered] | Rendered | None

_MEMBER_NAMES: dict[str, bytes] = {}


def _member(name: str) -> bytes:
    """`,"Name":` as JSON bytes; navigation names are few, so they are encoded once."""
    found = _MEMBER_NAMES.get(name)
    if found is None:
        found = _MEMBER_NAMES[name] = ENCODER.encode(name) + b":"
    return found


def _json_value(value: Nested) -> bytes:
    if value is None:
        return b"null"
    if isinstance(value, list):
        if all(isinstance(item, bytes) for item in value):
            return b"[" + b",".join(value) + b"]"  # type: ignore[arg-type]  # all bytes, checked above
        return b"[" + b",".join(_json_value(item) for item in value) + b"]"
    if isinstance(value, bytes):
        return value
    return ENCODER.encode(value)


def _object_value(value: Nested) -> Any:
    if isinstance(value, list):
        return [_object_value(item) for item in value]
    if isinstance(value, bytes):
        return msgspec.Raw(value)
    return value


def splice(text: bytes, navigations: Sequence[tuple[str, Nested]]) -> bytes:
    """A row's JSON object with its navigations added as members, without decoding it.

    The engine's object ends in `}`; the members go before it. Nothing inside the object is read,
    so the cost is a copy of its bytes, not a parse.
    """
    if not navigations:
        return text
    parts = [text[:-1]]
    separator = b"," if len(text) > 2 else b""
    for name, value in navigations:
        parts.append(separator + _member(name) + _json_value(value))
        separator = b","
    parts.append(b"}")
    return b"".join(parts)


class Expander:
    """Reads the expansions of rows already fetched and nests them in; one per request.

    Each level of the tree is rendered the cheapest way its query allows: rows the engine read as
    JSON get their navigations spliced into their bytes; rows read as values (or, on `/odata`, JSON
    whose values need OData's types) become mappings. Both nest inside each other.
    """

    def __init__(self, engine: Engine, database: str, *, timeout: float, max_rows: int, odata: bool = False) -> None:
        self.engine = engine
        self.database = database
        self.timeout = timeout
        self.max_rows = max_rows
        self.odata = odata
        self.statements = 0

    async def render(
        self, query: SelectQuery, nodes: Sequence[ExpandNode], fetched: Sequence[tuple[Any, ...]]
    ) -> list[Rendered]:
        """`fetched` (rows of `query`) as the client sees them, each with the navigations of `nodes`."""
        nested: list[tuple[str, list[Nested]]] = []
        for node in nodes:
            nested.append((node.navigation.name, await self._matches(node, query, fetched)))
        converters = row_converters(query.table, query.output) if self.odata else ()
        if query.json_rows and not converters:
            if not nested:
                return [bytes(row[0]) for row in fetched]
            return [
                splice(bytes(row[0]), [(name, values[i]) for name, values in nested]) for i, row in enumerate(fetched)
            ]
        names = [column.name for column in query.output]
        rendered: list[Rendered] = []
        for i, row in enumerate(fetched):
            out: Row = ROW_DECODER.decode(row[0]) if query.json_rows else dict(zip(names, row, strict=False))
            for _, name, change in converters:
                out[name] = change(out[name])
            for name, values in nested:
                out[name] = _object_value(values[i])
            rendered.append(out)
        return rendered

    async def _matches(self, node: ExpandNode, parent: SelectQuery, parents: Sequence[tuple[Any, ...]]) -> list[Nested]:
        """For each row of `parents`, what its navigation holds, read in one statement per chunk of links."""
        navigation = node.navigation
        source_key, target_key = key_readers(parent, node.query, navigation)
        parent_keys = [source_key(row) for row in parents]
        source = [column_index(parent)[name] for name in navigation.source_columns]
        distinct: dict[Hashable, tuple[Any, ...]] = {}
        for key, row in zip(parent_keys, parents, strict=True):
            if key is not None and key not in distinct:
                distinct[key] = tuple(row[i] for i in source)
        links = list(distinct.values())
        pieces = chunks(navigation, links) if links else []
        fetched: list[tuple[Any, ...]] = []
        for piece in pieces:
            statement = compile_select(self.engine.dialect, statement_query(node, piece))
            self.statements += 1
            fetched.extend(await self.engine.fetch(self.database, statement, timeout=self.timeout))
        if node.query.json_rows:
            fetched = self.engine.dialect.json_row_bytes(fetched)
        if len(pieces) > 1:
            fetched = _reorder(node.query, fetched)
        rendered = await self.render(node.query, node.children, fetched)
        groups: dict[Hashable, list[Rendered]] = {}
        for row, shown in zip(fetched, rendered, strict=True):
            found = groups.get(target_key(row))
            if found is None:
                groups[target_key(row)] = [shown]
            else:
                found.append(shown)
        limit = self.max_rows if node.top is None else min(node.top, self.max_rows)
        none: list[Rendered] = []
        if navigation.many:
            return [groups.get(key, none)[:limit] if key is not None else [] for key in parent_keys]
        first: list[Nested] = []
        for key in parent_keys:
            found = groups.get(key) if key is not None else None
            first.append(found[0] if found else None)
        return first


KeyReader = Callable[[tuple[Any, ...]], Hashable | None]


def key_readers(parent: SelectQuery, child: SelectQuery, navigation: Navigation) -> tuple[KeyReader, KeyReader]:
    """What reads a fetched row's link as a dictionary key, in a parent row and in a child row;
    None for Visma's "no reference".

    A link of one integer column on both sides (most of Visma's) is its value as it is, 0 meaning
    none; any other link is compared as both engines compare it (`_group_key`).
    """
    source = _positions(parent, navigation.source_columns)
    target = _positions(child, navigation.target_columns)
    kinds = {
        column.kind
        for query, names in ((parent, navigation.source_columns), (child, navigation.target_columns))
        for column in (query.table.column(name) for name in names)
        if column is not None
    }
    if len(source) == 1 and kinds == {"integer"}:
        return _integer_reader(source[0]), _integer_reader(target[0])
    return _general_reader(source), _general_reader(target)


def _positions(query: SelectQuery, names: Sequence[str]) -> list[int]:
    index = column_index(query)
    return [index[name] for name in names]


def _integer_reader(at: int) -> KeyReader:
    def read(row: tuple[Any, ...]) -> Hashable | None:
        value = row[at]
        return value if value else None

    return read


def _general_reader(positions: list[int]) -> KeyReader:
    def read(row: tuple[Any, ...]) -> Hashable | None:
        values = tuple(row[i] for i in positions)
        return None if _no_reference(values) else _group_key(values)

    return read


def as_array(rendered: list[Rendered]) -> Any:
    """Rendered rows as one encodable JSON array: spliced bytes joined as they are, mappings as a list."""
    if rendered and all(isinstance(row, bytes) for row in rendered):
        return msgspec.Raw(b"[" + b",".join(row for row in rendered if isinstance(row, bytes)) + b"]")
    return [_object_value(row) for row in rendered]


def as_bytes(rendered: Rendered) -> bytes:
    """One rendered row as its JSON object's bytes."""
    return rendered if isinstance(rendered, bytes) else ENCODER.encode(rendered)


def as_object(rendered: Rendered) -> Row:
    """One rendered row as a mapping (decoded when it is JSON bytes), for an answer that adds members."""
    return ROW_DECODER.decode(rendered) if isinstance(rendered, bytes) else rendered


def _reorder(query: SelectQuery, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows of several chunks in the query's order again (each chunk came back ordered on its own);
    NULLs first ascending and last descending, as both engines sort them."""
    index = column_index(query)
    for entry in reversed(query.order):
        at = index[entry.column.name]
        rows.sort(key=lambda row: (0, 0) if row[at] is None else (1, row[at]), reverse=entry.descending)
    return rows


def expanded_key_query(query: SelectQuery, nodes: Sequence[ExpandNode]) -> SelectQuery:
    """A by-key query (`plan_key`) that also reads the linking columns `nodes` need."""
    return msgspec.structs.replace(query, columns=with_columns(query.table, query.columns, link_columns(nodes)))


async def read_expanded_row(expander: Expander, query: SelectQuery, nodes: Sequence[ExpandNode]) -> Rendered | None:
    """One row by key with its navigations nested, as the client sees it; None when there is none."""
    query = expanded_key_query(query, nodes)
    statement = compile_select(expander.engine.dialect, query)
    fetched = await expander.engine.fetch(expander.database, statement, timeout=expander.timeout, lane="lookup")
    if not fetched:
        return None
    if query.json_rows:
        fetched = expander.engine.dialect.json_row_bytes(fetched)
    return (await expander.render(query, nodes, fetched[:1]))[0]
