"""First pages prepared once: parsed options, plan and statements, remembered by query string.

Clients repeat the same requests (the same page of the same resource, polled), and parsing,
planning and compiling cost as much as encoding a hundred rows. The same query string on the same
resource always yields the same statements, so they are kept in a bounded per-process cache.
Requests with a `$skiptoken` are not kept: each token is different, and seeks are not repeated.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from redhorn.odata.parser import QueryOptions
from redhorn.query import ListPlan
from redhorn.sql.statement import Statement

PreparedKey = tuple[str, str, str, int]


class PreparedList(msgspec.Struct, frozen=True):
    options: QueryOptions
    plan: ListPlan
    statement: Statement
    count_statement: Statement | None


class PreparedCache:
    """A least-recently-used map from (database, resource, query string, page size) to a prepared list."""

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
