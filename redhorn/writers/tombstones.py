"""The keys of rows the embedded writer deleted, kept so that delta links can report deletions.

A row that is gone cannot say it was deleted, and Visma's change stamps live on the row. SQL
Server can track deletions itself (Change Tracking, read by the query layer); the embedded
database cannot, so every delete the embedded writer makes records the row's key here, in the
delete's own transaction: a delete and its tombstone commit together or not at all.

Tombstones are numbered in the order they were written (`Seq`), which is what a delta token
remembers. They are kept `Writes.TombstoneDays` days; older ones are pruned, and the highest number
pruned is remembered, so a token from before it is known to have missed deletions (410 Gone)
rather than silently reporting none.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from redhorn.metadata import Table
from redhorn.sql.sqlite import TOMBSTONES as TABLE, TOMBSTONES_PRUNED as PRUNED

# Long enough for a nightly or weekly pull to find every deletion since the last one (`Writes.TombstoneDays`).
RETENTION_DAYS = 30
# Pruning runs at most this often per connection: a delete must not scan the tombstones each time.
PRUNE_EVERY_SECONDS = 3600.0

CREATE_STATEMENTS = (
    f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("Seq" INTEGER PRIMARY KEY AUTOINCREMENT, "TableName" TEXT NOT NULL, '
    '"KeyValues" TEXT NOT NULL, "DeletedAt" REAL NOT NULL)',
    f'CREATE INDEX IF NOT EXISTS "{TABLE}_Table" ON "{TABLE}" ("TableName", "Seq")',
    f'CREATE INDEX IF NOT EXISTS "{TABLE}_DeletedAt" ON "{TABLE}" ("DeletedAt")',
    f'CREATE TABLE IF NOT EXISTS "{PRUNED}" ("Through" INTEGER NOT NULL)',
)

_last_pruned: dict[int, float] = {}


def ensure_tables(connection: sqlite3.Connection) -> None:
    for statement in CREATE_STATEMENTS:
        connection.execute(statement)


def record(
    connection: sqlite3.Connection, table: Table, keys: Sequence[Sequence[Any]], *, days: int = RETENTION_DAYS
) -> None:
    """Remember that the rows of `table` with these key values (in key order, as stored) were deleted;
    tombstones older than `days` are pruned now and then."""
    now = time.time()
    connection.executemany(
        f'INSERT INTO "{TABLE}" ("TableName", "KeyValues", "DeletedAt") VALUES (?, ?, ?)',
        [(table.sql_name, msgspec.json.encode(list(key)).decode(), now) for key in keys],
    )
    if now - _last_pruned.get(id(connection), 0.0) >= PRUNE_EVERY_SECONDS:
        _last_pruned[id(connection)] = now
        prune(connection, now - days * 86400)


def prune(connection: sqlite3.Connection, older_than: float) -> int:
    """Drop tombstones written before `older_than` (epoch seconds); the highest dropped is remembered."""
    (highest,) = connection.execute(f'SELECT MAX("Seq") FROM "{TABLE}" WHERE "DeletedAt" < ?', (older_than,)).fetchone()
    if highest is None:
        return 0
    dropped = connection.execute(f'DELETE FROM "{TABLE}" WHERE "Seq" <= ?', (highest,)).rowcount
    connection.execute(f'DELETE FROM "{PRUNED}"')
    connection.execute(f'INSERT INTO "{PRUNED}" ("Through") VALUES (?)', (highest,))
    return int(dropped)
