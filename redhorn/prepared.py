"""First pages prepared once: parsed options, plan and statements, remembered by query string.

Clients repeat the same requests (the same page of the same resource, polled), and parsing,
planning and compiling cost as much as encoding a hundred rows. The same query string on the same
resource always yields the same statements, so they are kept in a bounded per-process cache.
Requests with a `$skiptoken` are not kept: each token is different, and seeks are not repeated.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from redhorn.metadata import Table
from redhorn.odata.parser import QueryOptions
from redhorn.paging import PageToken
from redhorn.query import ListPlan, plan_list
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

# (metadata generation, database, resource, query string, page size)
PreparedKey = tuple[int, str, str, str, int]


class PreparedList(msgspec.Struct, frozen=True):
    options: QueryOptions
    plan: ListPlan
    statement: Statement
    count_statement: Statement | None


def prepare_list(
    dialect: Dialect, table: Table, options: QueryOptions, *, page_size: int, token: PageToken | None
) -> PreparedList:
    """The plan and statements of one page of a list request, in `dialect`.

    Raises:
        InvalidQuery: unknown properties or a filter that does not fit the table.
        InvalidSkipToken: a token whose values do not fit this table's order.
    """
    plan = plan_list(table, options, page_size=page_size, token=token, json_rows=dialect.renders_json_rows)
    count_statement = compile_count(dialect, table, plan.query.where) if options.count else None
    return PreparedList(options, plan, compile_select(dialect, plan.query), count_statement)


class PreparedCache:
    """A least-recently-used map from (metadata generation, database, resource, query string, page size)
    to a prepared list; a new generation of the metadata leaves the old entries to age out."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._entries: OrderedDict[PreparedKey, PreparedList] = OrderedDict()

    def get(self, key: PreparedKey) -> PreparedList | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: PreparedKey, entry: PreparedList) -> None:
        self._entries[key] = entry
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
