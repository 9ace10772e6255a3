"""How the crawler finds the dictionary's English names for a database's SQL tables and columns.

The public model knows every table and column identifier but the SQL names of only a few, most of them
inferred, so each name is found by the first route that works, and the route is recorded so that the crawl log
and `redhorn dictionary report` can say how sure each name is:

Tables
  1. "dictionary": the SQL name is a table's known SQL name;
  2. "stand-in": the SQL name is a table's English identifier (the demo database names a table so where its
     SQL name is unknown), provided no other SQL table of the database carries that table's known SQL name;
  3. "sql": no table of the dictionary; it keeps its SQL name.

Columns of a table found by route 1 or 2
  1. "dictionary": the SQL name is a column's known SQL name;
  2. "column-order": the hypothesis of the shared model's README, that a table's SQL columns in ordinal order
     follow the column numbers. It pairs the SQL columns one to one with the dictionary's stored, numbered
     columns in number order, and is adopted for the whole table only when the counts match and every pair
     whose SQL name is already known agrees. Columns the dictionary knows by SQL name but not by number (a
     curated column the model lacks) are set aside from both sides before pairing;
  3. "stand-in": the SQL name is the identifier of a column not already taken (the demo's convention again);
  4. "sql": it keeps its SQL name.

A table's own `named_by` summarises: "sql" for an unknown table, "column-order" where the hypothesis named its
columns, else how the table was found ("stand-in" or "dictionary"). Pure functions, so tests and the report can
call them without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from redhorn.catalog.dictionary import DatabaseKind, Dictionary, TableEntry
from redhorn.catalog.model import Column

NamedBy = Literal["dictionary", "column-order", "stand-in", "sql"]
TableFoundBy = Literal["dictionary", "stand-in", "sql"]
# Every route, in the order they are tried: the order of counts in logs and reports.
ROUTES: tuple[NamedBy, ...] = ("dictionary", "column-order", "stand-in", "sql")


@dataclass(frozen=True, slots=True)
class ColumnNaming:
    """One SQL column and the dictionary column it was found to be (None: unknown), with the route."""

    sql: str
    described: Column | None
    named_by: NamedBy


@dataclass(frozen=True, slots=True)
class TableNaming:
    """One SQL table: its dictionary table (None: unknown), how it was found and named, and its columns.

    `column_order` says in one phrase what became of the column-order hypothesis, and why: what a user with a
    real installation sends back.
    """

    sql: str
    entry: TableEntry | None
    found_by: TableFoundBy
    named_by: NamedBy
    column_order: str
    columns: tuple[ColumnNaming, ...]

    def counts(self) -> dict[NamedBy, int]:
        """How many columns each route named, every route present (0 where it named none)."""
        counts: dict[NamedBy, int] = dict.fromkeys(ROUTES, 0)
        for column in self.columns:
            counts[column.named_by] += 1
        return counts

    def unmatched(self) -> tuple[Column, ...]:
        """The dictionary's stored columns that no SQL column was found to be."""
        if self.entry is None:
            return ()
        found = {id(column.described) for column in self.columns if column.described is not None}
        return tuple(c for c in self.entry.table.columns if c.stored and c.name is not None and id(c) not in found)


def name_tables(
    kind: DatabaseKind, tables: Mapping[str, Sequence[str]], dictionary: Dictionary
) -> dict[str, TableNaming]:
    """Name every SQL table of one database; `tables` maps each SQL table to its column names in ordinal order."""
    found: dict[str, tuple[TableEntry, TableFoundBy]] = {}
    taken: set[int] = set()
    for sql_name in tables:
        entry = dictionary.entry_by_sql(kind, sql_name)
        if entry is not None and id(entry) not in taken:
            found[sql_name] = (entry, "dictionary")
            taken.add(id(entry))
    for sql_name in tables:
        if sql_name in found:
            continue
        entry = dictionary.entry_by_name(kind, sql_name)
        if entry is not None and id(entry) not in taken:
            found[sql_name] = (entry, "stand-in")
            taken.add(id(entry))
    namings: dict[str, TableNaming] = {}
    for sql_name, columns in tables.items():
        if sql_name not in found:
            unknown = tuple(ColumnNaming(column, None, "sql") for column in columns)
            namings[sql_name] = TableNaming(sql_name, None, "sql", "sql", "not tried: unknown table", unknown)
            continue
        entry, found_by = found[sql_name]
        named, verdict, adopted = name_columns(entry, columns)
        named_by: NamedBy = "column-order" if adopted else found_by
        namings[sql_name] = TableNaming(sql_name, entry, found_by, named_by, verdict, named)
    return namings


def name_columns(entry: TableEntry, columns: Sequence[str]) -> tuple[tuple[ColumnNaming, ...], str, bool]:
    """Name one table's SQL columns (in ordinal order): the namings, the column-order verdict, whether adopted."""
    known = [entry.by_sql.get(column.lower()) for column in columns]
    if all(described is not None for described in known):
        namings = tuple(ColumnNaming(c, d, "dictionary") for c, d in zip(columns, known, strict=True))
        return namings, "not tried: every SQL name is known", False
    verdict, pairing = column_order(entry, columns, known)
    if pairing is not None:
        return (
            tuple(
                ColumnNaming(column, described, "dictionary" if known[i] is not None else "column-order")
                for i, (column, described) in enumerate(zip(columns, pairing, strict=True))
            ),
            verdict,
            True,
        )
    taken = {id(described) for described in known if described is not None}
    namings_list: list[ColumnNaming] = []
    for column, described in zip(columns, known, strict=True):
        if described is not None:
            namings_list.append(ColumnNaming(column, described, "dictionary"))
            continue
        stand_in = entry.by_name.get(column.lower())
        if stand_in is not None and id(stand_in) not in taken:
            taken.add(id(stand_in))
            namings_list.append(ColumnNaming(column, stand_in, "stand-in"))
        else:
            namings_list.append(ColumnNaming(column, None, "sql"))
    return tuple(namings_list), verdict, False


def column_order(
    entry: TableEntry, columns: Sequence[str], known: Sequence[Column | None]
) -> tuple[str, list[Column] | None]:
    """Test the column-order hypothesis on one table: the verdict, and the dictionary column of each SQL column
    when it is adopted (None when refused).

    `known` holds, for each SQL column, the dictionary column that carries its SQL name, if any.
    """
    numbered = entry.numbered
    numbered_ids = {id(column) for column in numbered}
    # A column known by SQL name but without a number cannot take a place in number order: set it aside.
    paired = [i for i, described in enumerate(known) if described is None or id(described) in numbered_ids]
    if len(paired) != len(numbered):
        return f"refused: {len(paired)} SQL columns to pair, {len(numbered)} numbered in the dictionary", None
    result: list[Column | None] = list(known)
    for i, described in zip(paired, numbered, strict=True):
        column, already = columns[i], known[i]
        if already is not None and already is not described:
            return (
                f"refused: SQL column {column} is {already.name} ({already.no}) but pairs with "
                f"{described.name} ({described.no})",
                None,
            )
        if already is None and described.sql is not None and described.sql.lower() != column.lower():
            return (
                f"refused: {described.name} ({described.no}) is SQL column {described.sql} but pairs with {column}",
                None,
            )
        result[i] = described
    adopted = [described for described in result if described is not None]
    return f"adopted: {len(paired)} columns pair in number order", adopted
