"""The Ord table as redhorn's catalog names it, read without an event loop.

The hand-written contenders of the page bench answer with redhorn's property names (`OrderNo`,
not `OrdNo`) so that their bodies have the shape of redhorn's. They take the names from the same
catalog query and dictionary redhorn's crawler uses, through plain sqlite3: uvicorn imports an app
inside its running loop, where the crawler's own coroutine cannot be run to completion.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from redhorn.catalog.crawler import build_database, catalog_columns
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import sqlite_uri
from redhorn.metadata import Table
from redhorn.sql.sqlite import SqliteDialect


def order_table(database: Path) -> Table:
    """The `orders` resource of the company database at `database` (e.g. `data/F9999.db`)."""
    catalog_sql = SqliteDialect().catalog_statements()[0].sql
    with contextlib.closing(sqlite3.connect(sqlite_uri(database, "ro"), uri=True)) as connection:
        rows = connection.execute(catalog_sql).fetchall()
    built = build_database(database.stem, "company", catalog_columns(rows), load_dictionary())
    table = built.table("orders")
    if table is None:
        raise SystemExit(f"{database} holds no orders table")
    return table
