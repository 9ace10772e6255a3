"""`redhorn dictionary report`: how each table and column of a database was named, for a person to read or send.

Most SQL names in the shipped model are inferred, so on a real installation some tables and columns keep their
SQL names, or are named by the column-order hypothesis. The report says which, table by table (and with
`--columns`, column by column), and which tables of the dictionary the database lacks: what a user sends back
so that the next release (or their own `metadata/overrides.json`) names them. It runs the crawler's own naming,
so it shows exactly what the server serves.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

import msgspec

from redhorn.catalog.crawler import CatalogColumn, build_named_database, database_kind, read_catalog
from redhorn.catalog.dictionary import DatabaseKind, Dictionary
from redhorn.catalog.naming import ROUTES, NamedBy, TableNaming
from redhorn.engines.base import Engine
from redhorn.metadata import Table

# Lists of names are wrapped at this width, so the report reads in a terminal and pastes into a message.
WIDTH = 110


class ColumnLine(msgspec.Struct, frozen=True, rename="camel"):
    """One SQL column: its property name, column number, route and the confidence of the dictionary's SQL name."""

    sql: str
    name: str
    number: int | None
    named_by: NamedBy
    sql_confidence: str | None


class TableLine(msgspec.Struct, frozen=True, rename="camel"):
    """One SQL table: resource, identifier, routes, columns counted by route, and the hypothesis' verdict.

    `not_found` and `columns` are filled only for the per-column report: the dictionary's columns that no SQL
    column was found to be, and each SQL column's naming.
    """

    resource: str
    sql: str
    name: str
    table_no: int | None
    named_by: NamedBy
    found_by: str
    column_order: str
    columns_by: dict[str, int]
    not_found: tuple[str, ...] = ()
    columns: tuple[ColumnLine, ...] = ()


class Report(msgspec.Struct, frozen=True, rename="camel"):
    """The whole report for one database; `not_found` lists the dictionary's tables the database lacks."""

    database: str
    kind: DatabaseKind
    tables_by: dict[str, int]
    columns_by: dict[str, int]
    tables: tuple[TableLine, ...]
    not_found: tuple[str, ...]


async def dictionary_report(engine: Engine, database: str, dictionary: Dictionary, *, columns: bool) -> Report:
    """Read one database's catalog through `engine` and report how the crawler names it."""
    catalog, _ = await read_catalog(engine, database)
    return build_report(database, database_kind(database), catalog, dictionary, columns=columns)


def build_report(
    database: str, kind: DatabaseKind, catalog: list[CatalogColumn], dictionary: Dictionary, *, columns: bool
) -> Report:
    """The report for a catalog already read; pure."""
    built, namings = build_named_database(database, kind, catalog, dictionary)
    tables_by: dict[str, int] = dict.fromkeys(ROUTES, 0)
    columns_by: dict[str, int] = dict.fromkeys(ROUTES, 0)
    lines: list[TableLine] = []
    for table in built.tables:
        naming = namings[table.sql_name]
        tables_by[naming.named_by] += 1
        counts = naming.counts()
        for route, count in counts.items():
            columns_by[route] += count
        lines.append(_table_line(table, naming, counts, detail=columns))
    found = {id(naming.entry) for naming in namings.values() if naming.entry is not None}
    missing = tuple(entry.table.name for entry in dictionary.entries(kind) if id(entry) not in found)
    return Report(database, kind, tables_by, columns_by, tuple(lines), missing)


def _table_line(table: Table, naming: TableNaming, counts: dict[NamedBy, int], *, detail: bool) -> TableLine:
    column_lines: tuple[ColumnLine, ...] = ()
    not_found: tuple[str, ...] = ()
    if detail:
        column_lines = tuple(
            ColumnLine(
                sql=named.sql,
                name=column.name,
                number=column.number,
                named_by=named.named_by,
                sql_confidence=named.described.sql_confidence if named.described else None,
            )
            for named, column in zip(naming.columns, table.columns, strict=True)
        )
        not_found = tuple(column.name for column in naming.unmatched() if column.name is not None)
    return TableLine(
        resource=table.resource,
        sql=table.sql_name,
        name=table.name,
        table_no=table.number,
        named_by=naming.named_by,
        found_by=naming.found_by,
        column_order=naming.column_order,
        columns_by={route: count for route, count in counts.items()},
        not_found=not_found,
        columns=column_lines,
    )


def format_json(report: Report) -> str:
    """The report as indented JSON with camelCase keys, for a program or a bug report."""
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode("utf-8") + "\n"


def format_text(report: Report, *, columns: bool) -> str:
    """The report as a table a person reads in a terminal; with `columns`, each table's columns under it."""
    lines = [
        f"Database {report.database} ({report.kind}): {len(report.tables)} tables",
        f"  tables named by {_counted(report.tables_by)}",
        f"  columns named by {_counted(report.columns_by)}",
        f"  dictionary tables not found in the database: {len(report.not_found)}",
        *textwrap.wrap(", ".join(report.not_found), WIDTH, initial_indent="    ", subsequent_indent="    "),
        "",
    ]
    headings = ["resource", "SQL name", "table no", "named by", *ROUTES]
    rows = [
        [
            table.resource,
            table.sql,
            "" if table.table_no is None else str(table.table_no),
            table.named_by,
            *(str(table.columns_by[route]) for route in ROUTES),
        ]
        for table in report.tables
    ]
    widths = [max(len(cell) for cell in cells) for cells in zip(headings, *rows, strict=True)]
    lines.append(_render(headings, widths))
    for table, row in zip(report.tables, rows, strict=True):
        lines.append(_render(row, widths))
        if columns:
            lines += _column_lines(table)
    return "\n".join(lines) + "\n"


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{route} {counts[route]}" for route in ROUTES)


def _render(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One row: text left-aligned, the table number and the counts right-aligned."""
    return "  ".join(
        cell.rjust(width) if i == 2 or i > 3 else cell.ljust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()


def _column_lines(table: TableLine) -> Iterable[str]:
    yield f"    column order {table.column_order}"
    sql_width = max((len(column.sql) for column in table.columns), default=0)
    name_width = max((len(column.name) for column in table.columns), default=0)
    for column in table.columns:
        number = "" if column.number is None else str(column.number)
        confidence = f" ({column.sql_confidence})" if column.named_by == "dictionary" and column.sql_confidence else ""
        yield (
            f"    {column.sql.ljust(sql_width)}  {column.name.ljust(name_width)}  {number.rjust(5)}  "
            f"{column.named_by}{confidence}"
        )
    if table.not_found:
        yield from textwrap.wrap(
            "dictionary columns not found: " + ", ".join(table.not_found),
            WIDTH,
            initial_indent="    ",
            subsequent_indent="      ",
        )
