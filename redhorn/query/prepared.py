"""First pages prepared once: parsed options, plan and statements, remembered by query string.

Clients repeat the same requests (the same page of the same resource, polled), and parsing,
planning and compiling cost as much as encoding a hundred rows. The same query string on the same
resource always yields the same statements, so they are kept in a bounded per-process cache.
Requests with a `$skiptoken` are not kept: each token is different, and seeks are not repeated.

Entries are keyed on the request's system query options alone, so parameters redhorn ignores
cannot make one request into thousands of entries, and the cache is bounded by the bytes of its
keys and statements as well as by their number: no stream of distinct requests grows it past
`max_bytes`.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from redhorn.errors import InvalidQuery
from redhorn.metadata import Database, Table
from redhorn.odata.parser import QueryLimits, QueryOptions, parse_query_options
from redhorn.query.expand import ExpandNode, link_columns, plan_expand, with_columns
from redhorn.query.paging import ListPlan, PageToken, binding_of, verify_page_token
from redhorn.query.plan import plan_list
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

# (metadata generation, database, resource, the `$`-options as name=value lines, page size)
PreparedKey = tuple[int, str, str, str, int]


class PreparedList(msgspec.Struct, frozen=True):
    options: QueryOptions
    plan: ListPlan
    statement: Statement
    count_statement: Statement | None
    # `$expand`'s navigations, planned; the page's rows then carry their linking columns too.
    expand: tuple[ExpandNode, ...] = ()


def prepare_list(
    dialect: Dialect,
    table: Table,
    options: QueryOptions,
    *,
    page_size: int,
    token: PageToken | None,
    database: Database | None = None,
    max_expand_depth: int = 2,
    limits: QueryLimits | None = None,
) -> PreparedList:
    """The plan and statements of one page of a list request, in `dialect`.

    With `$expand` (which needs `database`, where the navigations lead), the page's rows also
    read the columns its navigations link on.

    Raises:
        InvalidQuery: unknown properties or navigations, or a filter that does not fit the table.
        InvalidSkipToken: a token whose values do not fit this table's order.
    """
    expand: tuple[ExpandNode, ...] = ()
    if options.expand_text is not None:
        if database is None:
            raise InvalidQuery("$expand is not supported here", target="$expand")
        expand = plan_expand(
            database,
            table,
            options.expand_text,
            max_depth=max_expand_depth,
            limits=limits or QueryLimits(),
            json_rows=dialect.renders_json_rows,
        )
    plan = plan_list(table, options, page_size=page_size, token=token, json_rows=dialect.renders_json_rows)
    if expand:
        query = msgspec.structs.replace(
            plan.query, columns=with_columns(table, plan.query.columns, link_columns(expand))
        )
        plan = msgspec.structs.replace(plan, query=query)
    count_statement = compile_count(dialect, plan.count) if plan.count is not None else None
    return PreparedList(options, plan, compile_select(dialect, plan.query), count_statement, expand)


def prepare_page(
    cache: PreparedCache,
    generation: int,
    dialect: Dialect,
    limits: QueryLimits,
    token_key: bytes,
    *,
    database: str,
    table: Table,
    pairs: list[tuple[str, str]],
    page_size: int,
    user: str,
    schema: Database | None = None,
    max_expand_depth: int = 2,
) -> PreparedList:
    """A list request's page parsed, planned and compiled, or the first page prepared before.

    Raises:
        InvalidQuery: a query option that is malformed or does not fit the table.
        InvalidSkipToken: a token this server did not make for this very query and user.
    """
    key = (generation, database, table.resource, options_key(pairs), page_size)
    prepared = cache.get(key)
    if prepared is not None:
        return prepared
    options = parse_query_options(pairs, limits)
    token: PageToken | None = None
    if options.skiptoken is not None:
        token = verify_page_token(token_key, binding_of(database, table, options, user), options.skiptoken)
    prepared = prepare_list(
        dialect,
        table,
        options,
        page_size=page_size,
        token=token,
        database=schema,
        max_expand_depth=max_expand_depth,
        limits=limits,
    )
    if token is None:
        cache.put(key, prepared)
    return prepared


def options_key(pairs: list[tuple[str, str]]) -> str:
    """The part of a query string that decides a list's statements: its `$`-options, in order."""
    return "\n".join(f"{name}={value}" for name, value in pairs if name.startswith("$"))


def _cost(key: PreparedKey, entry: PreparedList) -> int:
    """An estimate of an entry's bytes: its key's text and its statements' SQL, and a little for the rest."""
    statements = (entry.statement, entry.count_statement) if entry.count_statement else (entry.statement,)
    return 512 + len(key[3]) + sum(len(s.sql) + 32 * len(s.params) for s in statements)


class PreparedCache:
    """A least-recently-used map from (metadata generation, database, resource, `$`-options, page size)
    to a prepared list, bounded in entries and in bytes; a new generation of the metadata leaves the
    old entries to age out."""

    def __init__(self, size: int = 2048, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[PreparedKey, tuple[PreparedList, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: PreparedKey) -> PreparedList | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: PreparedKey, entry: PreparedList) -> None:
        cost = _cost(key, entry)
        if cost > self.max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous[1]
        self._entries[key] = (entry, cost)
        self.bytes += cost
        while len(self._entries) > self.size or self.bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
