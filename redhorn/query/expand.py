"""`$expand` planned and run: one statement per expanded navigation per page, never one per row.

A page is read first; then, for each navigation `$expand` names, the page's distinct linking
values are collected and the related rows read at once with `WHERE link IN (bound list)` (for a
link of several columns, an OR of ANDs), with the nested `$filter` and the nested `$orderby` (the
target's key after it). Nested expansions run the same way over all rows the level above read.
Rows are then handed out to their parents in Python: a to-one gets the first match (or null), a
to-many its matches in order, cut to its nested `$top` and to `Query.MaxExpandedRows`.

SQL Server takes at most 2,100 parameters a statement, so the bound list is cut into chunks of at
most `MAX_LINK_PARAMETERS` parameters: a page of up to 1,000 rows with one linking column still
reads each navigation in one statement.

The condition is the bound syntax tree a `$filter` gives (`In` over a `Property`, `Compare` and
`BoolOp`), so the compiler writes it as it writes every filter, for both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from redhorn.engines.base import Engine
from redhorn.errors import InvalidQuery
from redhorn.metadata import Column, Database, Table
from redhorn.odata.ast import BoolOp, Compare, Expression, In, Literal, Property
from redhorn.odata.binder import bind_filter
from redhorn.odata.expand import ExpandItem, Navigation, navigation, navigations, parse_expand
from redhorn.odata.parser import DEFAULT_LIMITS, QueryLimits
from redhorn.odata.values import Converter, row_converters
from redhorn.query.plan import order_columns, select_columns
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
) -> tuple[ExpandNode, ...]:
    """`$expand` text planned against `table`'s navigations.

    Raises:
        ODataError / InvalidQuery: malformed text, an unknown navigation, nesting past `max_depth`,
            an unknown property or an ill-typed `$filter` inside; target `$expand`, naming the culprit.
    """
    return tuple(
        _plan(database, table, item, table.resource) for item in parse_expand(text, max_depth=max_depth, limits=limits)
    )


def _plan(database: Database, table: Table, item: ExpandItem, path: str) -> ExpandNode:
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
    children = tuple(_plan(database, target, child, where_path) for child in item.expand)
    needed = (*found.target_columns, *link_columns(children), *(entry.column.name for entry in order))
    columns = with_columns(target, output, needed)
    query = SelectQuery(table=target, columns=columns, output=output, where=where, order=order)
    return ExpandNode(found, query, item.top, children)


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


def _group_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Linking values as both engines compare them: text without letter case or trailing spaces."""
    return tuple(
        value.rstrip().casefold()
        if isinstance(value, str)
        else (int(value) if isinstance(value, float | Decimal) and value == int(value) else value)
        for value in values
    )


def _links(navigation: Navigation, parents: Sequence[Row]) -> list[tuple[Any, ...]]:
    seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for parent in parents:
        values = tuple(parent[name] for name in navigation.source_columns)
        if all(_is_none(value) for value in values) or any(value is None for value in values):
            continue
        seen.setdefault(_group_key(values), values)
    return list(seen.values())


class Expander:
    """Reads the expansions of a page's rows and nests them in; one per request."""

    def __init__(self, engine: Engine, database: str, *, timeout: float, max_rows: int, odata: bool = False) -> None:
        self.engine = engine
        self.database = database
        self.timeout = timeout
        self.max_rows = max_rows
        self.odata = odata
        self.statements = 0

    async def expand(self, nodes: Sequence[ExpandNode], parents: list[Row]) -> None:
        """Every parent row gets each node's navigation: an object or null, or an array."""
        for node in nodes:
            await self.expand_one(node, parents)

    async def expand_one(self, node: ExpandNode, parents: list[Row]) -> None:
        navigation = node.navigation
        links = _links(navigation, parents)
        rows: list[Row] = []
        for chunk in chunks(navigation, links) if links else []:
            statement = compile_select(self.engine.dialect, statement_query(node, chunk))
            self.statements += 1
            fetched = await self.engine.fetch(self.database, statement, timeout=self.timeout)
            rows.extend(as_rows(node.query.columns, fetched))
        if len(links) > 1 and len(chunks(navigation, links)) > 1:
            rows = _reorder(node, rows)
        if node.children:
            await self.expand(node.children, rows)
        groups: dict[tuple[Any, ...], list[Row]] = {}
        for row in rows:
            groups.setdefault(_group_key(tuple(row[name] for name in navigation.target_columns)), []).append(row)
        shown = self.shown(node)
        limit = self.max_rows if node.top is None else min(node.top, self.max_rows)
        for parent in parents:
            values = tuple(parent[name] for name in navigation.source_columns)
            matches = (
                []
                if any(v is None for v in values) or all(_is_none(v) for v in values)
                else groups.get(_group_key(values), [])
            )
            if navigation.many:
                parent[navigation.name] = [shown(row) for row in matches[:limit]]
            else:
                parent[navigation.name] = shown(matches[0]) if matches else None

    def shown(self, node: ExpandNode) -> Any:
        """What turns a read row into what the client sees: its output, typed for the root, and its navigations."""
        names = [column.name for column in node.query.output]
        nested = [child.navigation.name for child in node.children]
        converters: tuple[tuple[int, str, Converter], ...] = (
            row_converters(node.query.table, node.query.output) if self.odata else ()
        )

        def show(row: Row) -> Row:
            out = {name: row[name] for name in names}
            for _, name, change in converters:
                out[name] = change(out[name])
            for name in nested:
                out[name] = row[name]
            return out

        return show


def _reorder(node: ExpandNode, rows: list[Row]) -> list[Row]:
    """Rows of several chunks in the node's order again (each chunk came back ordered on its own);
    NULLs first ascending and last descending, as both engines sort them."""
    for entry in reversed(node.query.order):
        name = entry.column.name
        rows.sort(key=lambda row: (0, 0) if row[name] is None else (1, row[name]), reverse=entry.descending)
    return rows


def as_rows(columns: Sequence[Column], fetched: Sequence[tuple[Any, ...]]) -> list[Row]:
    """Fetched tuples as rows keyed by property name."""
    names = [column.name for column in columns]
    return [dict(zip(names, values, strict=False)) for values in fetched]


def shown_rows(
    table: Table, output: Sequence[Column], nodes: Sequence[ExpandNode], rows: Sequence[Row], *, odata: bool
) -> list[Row]:
    """The page's rows as the client sees them: the output's properties, then the navigations."""
    names = [column.name for column in output]
    nested = [node.navigation.name for node in nodes]
    converters = row_converters(table, tuple(output)) if odata else ()
    shown: list[Row] = []
    for row in rows:
        out = {name: row[name] for name in names}
        for _, name, change in converters:
            out[name] = change(out[name])
        for name in nested:
            out[name] = row[name]
        shown.append(out)
    return shown


def expanded_key_query(query: SelectQuery, nodes: Sequence[ExpandNode]) -> SelectQuery:
    """A by-key query (`plan_key`) read as values, with the linking columns `nodes` need."""
    return msgspec.structs.replace(
        query, json_rows=False, columns=with_columns(query.table, query.output, link_columns(nodes))
    )


async def read_expanded_row(expander: Expander, query: SelectQuery, nodes: Sequence[ExpandNode]) -> Row | None:
    """One row by key with its navigations nested, as the client sees it; None when there is none."""
    query = expanded_key_query(query, nodes)
    statement = compile_select(expander.engine.dialect, query)
    fetched = await expander.engine.fetch(expander.database, statement, timeout=expander.timeout, lane="lookup")
    if not fetched:
        return None
    rows = as_rows(query.columns, fetched[:1])
    await expander.expand(nodes, rows)
    return shown_rows(query.table, query.output, nodes, rows, odata=expander.odata)[0]
