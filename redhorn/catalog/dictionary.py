"""The data dictionary the runtime reads: the whole Visma Business model (format 2) and the site's overrides.

A database's catalog tells which tables and columns exist and their types; only the dictionary knows that
`Ord.CustNo` is `Order.CustomerNo`, column number 2874, resource `orders`, and that `Order.Customer` leads to
`Associate`. The crawler (redhorn.catalog.crawler) merges the two.

The shipped file is `metadata/visma-model.json` (see redhorn.catalog.model), generated from the public model
and the curated dictionary by redhorn.tools.model_import. It knows every table and column identifier and number
of the public model but few SQL names, so `Dictionary` indexes each table both ways, by SQL name and by
identifier, and keeps its columns in column-number order: what the crawler's naming routes need.

The curated part (what format 1 held: the tables and columns redhorn served before the whole model was known)
stays readable through `Dictionary.tables(kind)` and `Dictionary.table(kind, sql_name)` under format 1's
attribute names, for the readers that build SQL from it, such as the demo builder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from redhorn.catalog.model import Column, DatabaseKind, Domain, Model, Table, load_model
from redhorn.catalog.overrides import load_overrides, overrides_file

__all__ = [
    "DatabaseKind",
    "Dictionary",
    "DictionaryColumn",
    "DictionaryTable",
    "VALUE_FORMATS",
    "TableEntry",
    "load_dictionary",
    "overrides_file",
]

# Format 2 names a column's stored value format; the metadata (and format 1) call it the column's domain.
VALUE_FORMATS: dict[str, str] = {"yyyymmdd": "date", "hhmm": "time", "bitflags": "flags", "bool": "bool"}


class DictionaryColumn(msgspec.Struct, frozen=True):
    """A column of the curated dictionary under format 1's names: `sql` is always set, `domain` is the format."""

    sql: str
    name: str | None
    type: str
    confidence: str
    no: int | None = None
    domain: str | None = None
    note: str | None = None


class DictionaryTable(msgspec.Struct, frozen=True):
    """A table of the curated dictionary under format 1's names: `key` and column lookups by SQL name."""

    sql: str
    name: str
    resource: str
    key: tuple[str, ...]
    columns: tuple[DictionaryColumn, ...]
    confidence: str
    table_no: int | None = None
    kind: Literal["table", "view"] = "table"
    note: str | None = None

    def column(self, sql_name: str) -> DictionaryColumn | None:
        """The column with this SQL name, in any letter case."""
        lowered = sql_name.lower()
        return next((column for column in self.columns if column.sql.lower() == lowered), None)


def _curated_view(table: Table) -> DictionaryTable:
    """The curated columns of a model table, as format 1 showed them (in the model's order).

    A table whose SQL name is unknown (a site override can take it away) shows its identifier, the stand-in
    the crawler also accepts.
    """
    columns = tuple(
        DictionaryColumn(
            sql=column.sql or column.name or "",
            name=column.name,
            type=column.type or "",
            confidence=column.sql_confidence or column.confidence,
            no=column.no,
            domain=VALUE_FORMATS.get(column.format) if column.format else None,
            note=column.note,
        )
        for column in table.columns
        if column.source != "model" and (column.sql or column.name)
    )
    by_name = {column.name: column for column in table.columns if column.name is not None}
    key = tuple(by_name[part].sql or part for part in table.key)
    return DictionaryTable(
        sql=table.sql or table.name,
        name=table.name,
        resource=table.resource,
        key=key,
        columns=columns,
        confidence=table.sql_confidence or table.confidence,
        table_no=table.table_no,
        kind=table.kind,
        note=table.note,
    )


class TableEntry:
    """One model table indexed for naming a SQL table's columns.

    `by_sql` and `by_name` find a column by SQL name and by identifier, in any letter case, as SQL Server and
    Visma compare them. `numbered` holds the columns the column-order hypothesis pairs with a SQL table's
    columns: stored, named and numbered, in column-number order. `resource` is in lower case.
    """

    __slots__ = ("by_name", "by_sql", "numbered", "resource", "table")

    def __init__(self, table: Table) -> None:
        self.table = table
        self.resource = table.resource.lower()
        self.by_sql: dict[str, Column] = {}
        self.by_name: dict[str, Column] = {}
        for column in table.columns:
            if column.sql is not None:
                self.by_sql[column.sql.lower()] = column
            if column.name is not None:
                self.by_name[column.name.lower()] = column
        numbered = [c for c in table.columns if c.no is not None and c.name is not None and c.stored]
        self.numbered: tuple[Column, ...] = tuple(sorted(numbered, key=lambda c: c.no or 0))


class Dictionary:
    """The model with the site's overrides, indexed per kind of database by SQL name and by identifier.

    Built once when the application starts and never changed, so the crawls of every database share it.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._entries: dict[DatabaseKind, tuple[TableEntry, ...]] = {}
        self._by_sql: dict[DatabaseKind, dict[str, TableEntry]] = {}
        self._by_name: dict[DatabaseKind, dict[str, TableEntry]] = {}
        self._curated: dict[DatabaseKind, tuple[DictionaryTable, ...]] = {}
        for kind, tables in model.databases.items():
            entries = tuple(TableEntry(table) for table in tables)
            self._entries[kind] = entries
            self._by_sql[kind] = {e.table.sql.lower(): e for e in entries if e.table.sql is not None}
            self._by_name[kind] = {e.table.name.lower(): e for e in entries}
            self._curated[kind] = tuple(_curated_view(t) for t in tables if t.source != "model")
        self._values: dict[str, tuple[tuple[str, int], ...]] = {
            name: tuple(sorted(domain.members.items(), key=lambda member: (member[1], member[0])))
            for name, domain in model.domains.items()
            if domain.members
        }

    @property
    def domains(self) -> dict[str, Domain]:
        return self.model.domains

    def entries(self, kind: DatabaseKind) -> tuple[TableEntry, ...]:
        """Every table the model holds for this kind of database."""
        return self._entries.get(kind, ())

    def entry_by_sql(self, kind: DatabaseKind, sql_name: str) -> TableEntry | None:
        """The table whose known SQL name is `sql_name`, in any letter case."""
        return self._by_sql.get(kind, {}).get(sql_name.lower())

    def entry_by_name(self, kind: DatabaseKind, identifier: str) -> TableEntry | None:
        """The table whose English identifier is `identifier`, in any letter case."""
        return self._by_name.get(kind, {}).get(identifier.lower())

    def domain_values(self, name: str) -> tuple[tuple[str, int], ...]:
        """The members of a value domain as (name, value) in value order; empty where it is no enumeration."""
        return self._values.get(name, ())

    def tables(self, kind: DatabaseKind) -> tuple[DictionaryTable, ...]:
        """The curated tables (what format 1 held) with their curated columns only, in the model's order."""
        return self._curated.get(kind, ())

    def table(self, kind: DatabaseKind, sql_name: str) -> DictionaryTable | None:
        """The curated table with this SQL name, in any letter case."""
        lowered = sql_name.lower()
        return next((table for table in self.tables(kind) if table.sql.lower() == lowered), None)


def load_dictionary(overrides: Path | None = None, *, model: Path | None = None) -> Dictionary:
    """The shipped model (or the model file at `model`), with the site overrides at `overrides` merged over it.

    `overrides` is the file's path; where no file is there, there are no overrides, so a caller can pass
    `overrides_file(settings_file)` whether or not the site wrote one.

    Raises:
        OverridesError: the overrides file is malformed or names an identifier the model does not hold.
    """
    loaded = load_model(model)
    if overrides is not None:
        loaded = load_overrides(loaded, overrides)
    return Dictionary(loaded)
