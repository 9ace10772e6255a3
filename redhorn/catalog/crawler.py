"""Read each database's catalog and merge it with the data dictionary into the metadata cache.

The catalog is the truth about what exists (tables, views, columns, types, nullability, primary
keys), including what Data Model Extensions and customers added; the dictionary only lends English
names, resource names and numbers. A table or column the dictionary does not know is exposed under
its SQL name, so nothing in the database is hidden.

One catalog query per database, whatever its size: a 350-table company database is one round trip.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from redhorn.catalog.dictionary import DatabaseKind, Dictionary, DictionaryTable
from redhorn.engines.base import Engine, Row
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import DatabaseUnavailable
from redhorn.metadata import Column, Company, Database, Metadata, Table, TypeKind, company_database_name
from redhorn.sql.statement import Statement

logger = logging.getLogger("redhorn.crawler")

SYSTEM_DATABASE = "vbsys"
CATALOG_DATABASE = "Catalog"
# Tables redhorn keeps for itself in a company database are not resources.
INTERNAL_TABLE_PREFIX = "Redhorn"

# SQLite: every table and view with its columns, in one statement.
SQLITE_CATALOG = Statement(
    "SELECT m.name, m.type = 'view', p.name, p.type, NULL, NULL, NULL, p.\"notnull\" = 0, p.pk "
    "FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
    "WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "ORDER BY m.name, p.cid"
)
SQLITE_SCHEMA_VERSION = Statement("SELECT schema_version FROM pragma_schema_version")

# SQL Server: tables and views of dbo, their columns, types and primary-key positions.
# Columns: table, is_view, column, type, max_length (characters), precision, scale, nullable, key ordinal.
MSSQL_CATALOG = Statement(
    "SELECT o.name, o.is_view, c.name, t.name, "
    "CASE WHEN t.name IN ('nchar', 'nvarchar') AND c.max_length > 0 THEN c.max_length / 2 ELSE c.max_length END, "
    "c.precision, c.scale, c.is_nullable, COALESCE(ic.key_ordinal, 0) "
    "FROM (SELECT object_id, name, schema_id, 0 AS is_view FROM sys.tables WHERE is_ms_shipped = 0 "
    "UNION ALL SELECT object_id, name, schema_id, 1 AS is_view FROM sys.views WHERE is_ms_shipped = 0) AS o "
    "JOIN sys.columns AS c ON c.object_id = o.object_id "
    "JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
    "LEFT JOIN sys.indexes AS i ON i.object_id = o.object_id AND i.is_primary_key = 1 "
    "LEFT JOIN sys.index_columns AS ic "
    "ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.column_id = c.column_id "
    "WHERE SCHEMA_NAME(o.schema_id) = 'dbo' "
    "ORDER BY o.name, c.column_id"
)
MSSQL_SCHEMA_VERSION = Statement(
    "SELECT CONVERT(varchar(33), MAX(modify_date), 126) FROM sys.objects WHERE type IN ('U', 'V')"
)

_KINDS: dict[str, TypeKind] = {
    **dict.fromkeys(("int", "integer", "smallint", "tinyint", "bigint", "mediumint"), "integer"),
    **dict.fromkeys(("decimal", "numeric", "money", "smallmoney"), "decimal"),
    **dict.fromkeys(("real", "float", "double", "double precision"), "float"),
    **dict.fromkeys(("bit", "boolean", "bool"), "boolean"),
    **dict.fromkeys(("date", "datetime", "datetime2", "smalldatetime", "datetimeoffset", "time"), "datetime"),
    **dict.fromkeys(("binary", "varbinary", "image", "blob", "rowversion", "timestamp"), "binary"),
}
_DECLARED = re.compile(r"^\s*([A-Za-z ]+?)\s*(?:\(\s*(-?\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


class CatalogColumn(msgspec.Struct, frozen=True):
    """One row of a catalog query, the same shape for every engine."""

    table: str
    is_view: bool
    column: str
    type_name: str
    max_length: int | None
    precision: int | None
    scale: int | None
    nullable: bool
    key_ordinal: int


def catalog_statements(dialect_name: str) -> tuple[Statement, Statement]:
    """The catalog and schema-version queries for a dialect."""
    if dialect_name == "mssql":
        return MSSQL_CATALOG, MSSQL_SCHEMA_VERSION
    return SQLITE_CATALOG, SQLITE_SCHEMA_VERSION


def catalog_columns(rows: Iterable[Row]) -> list[CatalogColumn]:
    """Normalise catalog rows; SQLite's declared types such as `DECIMAL(28,6)` are split up here."""
    columns: list[CatalogColumn] = []
    for table, is_view, column, type_name, max_length, precision, scale, nullable, key_ordinal in rows:
        name = (type_name or "").lower()
        if max_length is None and precision is None:
            match = _DECLARED.match(name)
            if match:
                name = match.group(1)
                if match.group(2) is not None:
                    first = int(match.group(2))
                    if _KINDS.get(name) == "decimal":
                        precision, scale = first, int(match.group(3) or 0)
                    else:
                        max_length = first
        columns.append(
            CatalogColumn(
                str(table),
                bool(is_view),
                str(column),
                name,
                max_length,
                precision,
                scale,
                bool(nullable),
                int(key_ordinal),
            )
        )
    return columns


def _column_kind(entry: CatalogColumn) -> TypeKind:
    kind = _KINDS.get(entry.type_name)
    if kind is not None:
        return kind
    if entry.type_name in ("decimal", "numeric") or "dec" in entry.type_name:
        return "decimal"
    if "int" in entry.type_name:
        return "integer"
    return "string"


def _sql_type(entry: CatalogColumn) -> str:
    if entry.precision is not None and _column_kind(entry) == "decimal":
        return f"{entry.type_name}({entry.precision},{entry.scale or 0})"
    if entry.max_length is not None and _column_kind(entry) in ("string", "binary"):
        return f"{entry.type_name}({'max' if entry.max_length < 0 else entry.max_length})"
    return entry.type_name


def build_database(
    name: str, kind: DatabaseKind, catalog: list[CatalogColumn], dictionary: Dictionary, version: str = ""
) -> Database:
    """Merge one database's catalog with the dictionary; pure, so it can be timed on its own."""
    by_table: dict[str, list[CatalogColumn]] = {}
    for entry in catalog:
        by_table.setdefault(entry.table, []).append(entry)
    tables: list[Table] = []
    used_resources: set[str] = set()
    known_resources = {t.resource.lower() for t in dictionary.tables(kind)}
    for sql_name, entries in by_table.items():
        if sql_name.startswith(INTERNAL_TABLE_PREFIX):
            continue  # redhorn's own bookkeeping (number series, idempotency): not Visma data
        described = dictionary.table(kind, sql_name)
        resource = described.resource if described else sql_name.lower()
        if described is None and (resource in known_resources or resource in used_resources):
            resource = f"sql_{resource}"
        table = _build_table(sql_name, resource, entries, described)
        used_resources.add(table.resource.lower())
        tables.append(table)
    return Database(name, tuple(sorted(tables, key=lambda t: t.resource)), version)


def _build_table(
    sql_name: str, resource: str, entries: list[CatalogColumn], described: DictionaryTable | None
) -> Table:
    columns: list[Column] = []
    used: set[str] = set()
    for entry in entries:
        known = described.column(entry.column) if described else None
        name = (known.name if known and known.name else None) or entry.column
        if name.lower() in used:
            name = entry.column if entry.column.lower() not in used else f"{entry.column}_"
        used.add(name.lower())
        columns.append(
            Column(
                sql_name=entry.column,
                name=name,
                kind=_column_kind(entry),
                sql_type=_sql_type(entry),
                nullable=entry.nullable,
                # Lengths in characters, for text and binary only (the catalog gives bytes for the rest).
                max_length=entry.max_length
                if entry.max_length and entry.max_length > 0 and _column_kind(entry) in ("string", "binary")
                else None,
                precision=entry.precision,
                scale=entry.scale,
                number=known.no if known else None,
                domain=known.domain if known else None,
                known=known is not None,
            )
        )
    by_sql = {column.sql_name.lower(): column for column in columns}
    key = tuple(
        by_sql[entry.column.lower()]
        for entry in sorted((e for e in entries if e.key_ordinal > 0), key=lambda e: e.key_ordinal)
    )
    if not key and described and all(part.lower() in by_sql for part in described.key):
        key = tuple(by_sql[part.lower()] for part in described.key)
    is_view = entries[0].is_view
    if described is None:
        return Table(sql_name, sql_name, resource, tuple(columns), key, is_view=is_view, known=False)
    return Table(sql_name, described.name, resource, tuple(columns), key, number=described.table_no, is_view=is_view)


async def crawl_database(engine: Engine, name: str, kind: DatabaseKind, dictionary: Dictionary) -> Database:
    """Read one database's catalog through `engine` and build its metadata."""
    catalog_sql, version_sql = catalog_statements(engine.dialect.name)
    rows = await engine.fetch(name, catalog_sql)
    version_rows = await engine.fetch(name, version_sql)
    version = str(version_rows[0][0]) if version_rows else ""
    return build_database(name, kind, catalog_columns(rows), dictionary, version)


async def read_schema_version(engine: Engine, name: str) -> str:
    """The database's schema version: it changes whenever a table or column is added, altered or dropped."""
    _, version_sql = catalog_statements(engine.dialect.name)
    rows = await engine.fetch(name, version_sql)
    return str(rows[0][0]) if rows else ""


async def read_companies(engine: Engine, system: Database) -> list[Company]:
    """The company list from the system database's Company table (`FrmNo`, `Nm`)."""
    table = system.table("companies")
    if table is None:
        return []
    number, name = table.column("CompanyNo"), table.column("Name")
    if number is None:
        return []
    quote = engine.dialect.quote_ident
    columns = quote(number.sql_name) + (", " + quote(name.sql_name) if name else "")
    rows = await engine.fetch(
        system.name, Statement(f"SELECT {columns} FROM {engine.dialect.table_ref(table.sql_name)}")
    )
    return [Company(int(row[0]), str(row[1]) if name else "", company_database_name(int(row[0]))) for row in rows]


def missing_data_folder(engine: Engine) -> Path | None:
    """The embedded engine's folder when it does not exist: one cause for every database's absence."""
    if isinstance(engine, SqliteEngine) and not engine.folder.is_dir():
        return engine.folder
    return None


async def crawl(engine: Engine, dictionary: Dictionary, previous: Metadata | None = None) -> Metadata:
    """The whole metadata cache: vbsys, its companies' databases and Catalog, crawled concurrently.

    A database that cannot be reached is left out with a warning; its requests answer 503 until a
    later crawl finds it. Given the `previous` metadata, only the databases missing from it are
    crawled (the others are kept as they are).
    """
    started = time.perf_counter()
    kept = dict(previous.databases) if previous else {}
    databases: dict[str, Database] = {}
    companies: dict[int, Company] = dict(previous.companies) if previous and SYSTEM_DATABASE in kept else {}
    folder = missing_data_folder(engine)
    if folder is not None:
        # One line naming the folder and the fix, rather than one per database that says neither.
        logger.warning(
            "The data folder %s does not exist, so there are no databases to serve: run 'redhorn demo' to build "
            "the demo there, or fix VismaConnection.VismaDbConnectionString to name the folder that holds them",
            folder,
        )
        return Metadata(kept, companies, SYSTEM_DATABASE, CATALOG_DATABASE, time.perf_counter() - started)
    if SYSTEM_DATABASE in kept:
        databases[SYSTEM_DATABASE] = kept[SYSTEM_DATABASE]
    else:
        try:
            system = await crawl_database(engine, SYSTEM_DATABASE, "vbsys", dictionary)
            databases[system.name] = system
            companies = {company.number: company for company in await read_companies(engine, system)}
        except DatabaseUnavailable as exc:
            logger.warning("System database %r is unavailable: %s", SYSTEM_DATABASE, exc.message)
    targets: list[tuple[str, DatabaseKind]] = [(CATALOG_DATABASE, "catalog")]
    targets += [(company.database, "company") for company in companies.values()]
    for name, _ in targets:
        if name in kept:
            databases[name] = kept[name]
    missing = [(name, kind) for name, kind in targets if name not in kept]
    results = await asyncio.gather(
        *(crawl_database(engine, name, kind, dictionary) for name, kind in missing), return_exceptions=True
    )
    for (name, _), result in zip(missing, results, strict=True):
        if isinstance(result, DatabaseUnavailable):
            logger.warning("Database %r is unavailable: %s", name, result.message)
        elif isinstance(result, BaseException):
            raise result
        else:
            databases[name] = result
    elapsed = time.perf_counter() - started
    tables = sum(len(database.tables) for database in databases.values())
    logger.info("Crawled %d databases, %d tables in %.3f s", len(databases), tables, elapsed)
    return Metadata(databases, companies, SYSTEM_DATABASE, CATALOG_DATABASE, elapsed)
