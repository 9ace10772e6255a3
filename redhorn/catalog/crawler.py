"""Read each database's catalog and merge it with the data dictionary into the metadata cache.

The catalog is the truth about what exists (tables, views, columns, types, nullability, primary
keys), including what Data Model Extensions and customers added; the dictionary only lends English
names, resource names, numbers, relations, change stamps and value domains. How each name is found
(by known SQL name, by the column-order hypothesis, by the demo's stand-in convention) is
`redhorn.catalog.naming`'s business. A table or column the dictionary does not know is exposed under
its SQL name, so nothing in the database is hidden.

One catalog query per database, whatever its size: a 350-table company database is one round trip.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from redhorn.catalog.dictionary import VALUE_FORMATS, DatabaseKind, Dictionary
from redhorn.catalog.model import ColumnRef, Table as ModelTable
from redhorn.catalog.naming import ROUTES, NamedBy, TableNaming, name_tables
from redhorn.engines.base import Engine, Row
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import DatabaseUnavailable
from redhorn.metadata import (
    ChangeStamps,
    Column,
    Company,
    Database,
    Metadata,
    Relation,
    Table,
    TypeKind,
    company_database_name,
)
from redhorn.sql.statement import Statement

logger = logging.getLogger("redhorn.crawler")

SYSTEM_DATABASE = "vbsys"
CATALOG_DATABASE = "Catalog"
# Tables redhorn keeps for itself in a company database are not resources.
INTERNAL_TABLE_PREFIX = "Redhorn"

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


@functools.cache
def _type_kind(type_name: str) -> TypeKind:
    """The kind of a catalog type name; remembered, as a database holds thousands of columns of a dozen types."""
    kind = _KINDS.get(type_name)
    if kind is not None:
        return kind
    if type_name in ("decimal", "numeric") or "dec" in type_name:
        return "decimal"
    if "int" in type_name:
        return "integer"
    return "string"


def _column_kind(entry: CatalogColumn) -> TypeKind:
    return _type_kind(entry.type_name)


def _sql_type(entry: CatalogColumn, kind: TypeKind) -> str:
    if entry.precision is not None and kind == "decimal":
        return f"{entry.type_name}({entry.precision},{entry.scale or 0})"
    if entry.max_length is not None and kind in ("string", "binary"):
        return f"{entry.type_name}({'max' if entry.max_length < 0 else entry.max_length})"
    return entry.type_name


def build_database(
    name: str, kind: DatabaseKind, catalog: list[CatalogColumn], dictionary: Dictionary, version: str = ""
) -> Database:
    """Merge one database's catalog with the dictionary; pure, so it can be timed on its own.

    Names come from `redhorn.catalog.naming` (which route found each is kept in `Table.named_by` and logged);
    relations and change stamps are resolved after every table is named, as a relation's pairs need the
    target's property names.
    """
    return build_named_database(name, kind, catalog, dictionary, version)[0]


def build_named_database(
    name: str, kind: DatabaseKind, catalog: list[CatalogColumn], dictionary: Dictionary, version: str = ""
) -> tuple[Database, dict[str, TableNaming]]:
    """`build_database`, and how each SQL table was named: what `redhorn dictionary report` shows."""
    by_table: dict[str, list[CatalogColumn]] = {}
    for entry in catalog:
        if not entry.table.startswith(INTERNAL_TABLE_PREFIX):  # redhorn's own bookkeeping: not Visma data
            by_table.setdefault(entry.table, []).append(entry)
    namings = name_tables(kind, {t: [e.column for e in entries] for t, entries in by_table.items()}, dictionary)
    known_resources = {entry.resource for entry in dictionary.entries(kind)}
    used_resources: set[str] = set()
    drafts: list[_Draft] = []
    for sql_name, entries in by_table.items():
        naming = namings[sql_name]
        resource = naming.entry.table.resource if naming.entry else sql_name.lower()
        if naming.entry is None and (resource in known_resources or resource in used_resources):
            resource = f"sql_{resource}"
        used_resources.add(resource.lower())
        drafts.append(_draft(sql_name, resource, entries, naming, dictionary))
    properties = {draft.naming.entry.table.name.lower(): draft.properties for draft in drafts if draft.naming.entry}
    tables = [_table(draft, properties) for draft in drafts]
    _log_naming(name, drafts)
    return Database(name, tuple(sorted(tables, key=lambda t: t.resource)), version), namings


@dataclass(frozen=True, slots=True)
class _Draft:
    """A table named but not yet built: its relations wait for every table's property names."""

    sql_name: str
    resource: str
    naming: TableNaming
    columns: tuple[Column, ...]
    key: tuple[Column, ...]
    is_view: bool
    # The property name of each dictionary column found here, by lower-case identifier.
    properties: dict[str, str]


def _draft(
    sql_name: str, resource: str, entries: list[CatalogColumn], naming: TableNaming, dictionary: Dictionary
) -> _Draft:
    columns: list[Column] = []
    used: set[str] = set()
    properties: dict[str, str] = {}
    for entry, named in zip(entries, naming.columns, strict=True):
        described = named.described
        name = (described.name if described and described.name else None) or entry.column
        if name.lower() in used:
            name = entry.column if entry.column.lower() not in used else f"{entry.column}_"
        used.add(name.lower())
        kind = _column_kind(entry)
        if described is not None and described.name is not None:
            properties[described.name.lower()] = name
        value_domain = described.domain if described else None
        columns.append(
            Column(
                sql_name=entry.column,
                name=name,
                kind=kind,
                sql_type=_sql_type(entry, kind),
                nullable=entry.nullable,
                # Lengths in characters, for text and binary only (the catalog gives bytes for the rest).
                max_length=entry.max_length
                if entry.max_length and entry.max_length > 0 and kind in ("string", "binary")
                else None,
                precision=entry.precision,
                scale=entry.scale,
                number=described.no if described else None,
                # Visma stores dates, times and flags as integers; on any other type the format says nothing.
                domain=VALUE_FORMATS.get(described.format)
                if described and described.format and kind == "integer"
                else None,
                known=described is not None,
                value_domain=value_domain,
                values=dictionary.domain_values(value_domain) if value_domain and kind == "integer" else (),
            )
        )
    by_sql = {column.sql_name.lower(): column for column in columns}
    key = tuple(
        by_sql[entry.column.lower()]
        for entry in sorted((e for e in entries if e.key_ordinal > 0), key=lambda e: e.key_ordinal)
    )
    if not key and naming.entry is not None:
        by_property = {column.name.lower(): column for column in columns}
        parts = [properties.get(part.lower()) for part in naming.entry.table.key]
        if parts and all(part is not None for part in parts):
            key = tuple(by_property[part.lower()] for part in parts if part is not None)
    return _Draft(sql_name, resource, naming, tuple(columns), key, entries[0].is_view, properties)


def _table(draft: _Draft, properties: dict[str, dict[str, str]]) -> Table:
    """The metadata of one table; `properties` maps each named table's identifier to its property names."""
    entry = draft.naming.entry
    if entry is None:
        return Table(
            draft.sql_name,
            draft.sql_name,
            draft.resource,
            draft.columns,
            draft.key,
            is_view=draft.is_view,
            known=False,
            named_by=draft.naming.named_by,
        )
    return Table(
        draft.sql_name,
        entry.table.name,
        draft.resource,
        draft.columns,
        draft.key,
        number=entry.table.table_no,
        is_view=draft.is_view,
        relations=_relations(entry.table, draft.properties, properties),
        change_stamps=_change_stamps(entry.table, draft.properties),
        named_by=draft.naming.named_by,
    )


_RANK = {"V": 3, "C": 2, "L": 1, "G": 0}


def _relations(
    described: ModelTable, own: dict[str, str], properties: dict[str, dict[str, str]]
) -> tuple[Relation, ...]:
    """Every relation of the model's table; pairs only where both columns are in this database's tables.

    A relation's confidence is the weaker of its target's and its column pairing's, as both must hold for a
    join to be right.
    """
    relations: list[Relation] = []
    for relation in described.relations:
        target = properties.get(relation.target.lower()) if relation.target else None
        pairs: tuple[tuple[str, str], ...] = ()
        if target is not None:
            pairs = tuple(
                (own[source.lower()], target[to.lower()])
                for source, to in relation.columns
                if source.lower() in own and to.lower() in target
            )
        confidence: str = relation.confidence
        if pairs and relation.columns_confidence and _RANK[relation.columns_confidence] < _RANK[confidence]:
            confidence = relation.columns_confidence
        relations.append(Relation(relation.name, relation.target, pairs, relation.no, confidence))
    return tuple(relations)


def _change_stamps(described: ModelTable, own: dict[str, str]) -> ChangeStamps | None:
    """The property names of the table's stamp columns; None unless the changed date and time are both here."""
    stamps = described.change_stamps
    if stamps is None:
        return None

    def present(ref: ColumnRef | None) -> str | None:
        return own.get(ref.name.lower()) if ref is not None else None

    changed_date, changed_time = present(stamps.changed_date), present(stamps.changed_time)
    if changed_date is None or changed_time is None:
        return None
    return ChangeStamps(
        changed_date=changed_date,
        changed_time=changed_time,
        changed_by=present(stamps.changed_by_user),
        changed_time_ms=present(stamps.changed_time_ms),
        created_date=present(stamps.created_date),
        created_time=present(stamps.created_time),
        created_by=present(stamps.created_by_user),
    )


def _log_naming(database: str, drafts: Sequence[_Draft]) -> None:
    """One debug line per table and one info line per database: how the names were found."""
    tables: dict[NamedBy, int] = dict.fromkeys(ROUTES, 0)
    columns: dict[NamedBy, int] = dict.fromkeys(ROUTES, 0)
    debug = logger.isEnabledFor(logging.DEBUG)
    for draft in drafts:
        naming = draft.naming
        tables[naming.named_by] += 1
        counts = naming.counts()
        for route, count in counts.items():
            columns[route] += count
        if debug:
            logger.debug(
                "%s: table %s is %s (%s), named by %s; columns by %s; column order %s",
                database,
                draft.sql_name,
                naming.entry.table.name if naming.entry else draft.sql_name,
                draft.resource,
                naming.named_by,
                ", ".join(f"{route} {count}" for route, count in counts.items()),
                naming.column_order,
            )
    logger.info(
        "%s: %d tables named by %s; their columns by %s",
        database,
        len(drafts),
        ", ".join(f"{route} {count}" for route, count in tables.items()),
        ", ".join(f"{route} {count}" for route, count in columns.items()),
    )


def database_kind(name: str) -> DatabaseKind:
    """The kind of a database by its name: `vbsys`, `Catalog`, or else a company's."""
    if name.lower() == SYSTEM_DATABASE.lower():
        return "vbsys"
    if name.lower() == CATALOG_DATABASE.lower():
        return "catalog"
    return "company"


async def read_catalog(engine: Engine, name: str) -> tuple[list[CatalogColumn], str]:
    """One database's catalog rows and schema version, through `engine`."""
    catalog_sql, version_sql = engine.dialect.catalog_statements()
    rows = await engine.fetch(name, catalog_sql)
    version_rows = await engine.fetch(name, version_sql)
    version = str(version_rows[0][0]) if version_rows else ""
    return catalog_columns(rows), version


async def crawl_database(engine: Engine, name: str, kind: DatabaseKind, dictionary: Dictionary) -> Database:
    """Read one database's catalog through `engine` and build its metadata."""
    catalog, version = await read_catalog(engine, name)
    return build_database(name, kind, catalog, dictionary, version)


async def read_schema_version(engine: Engine, name: str) -> str:
    """The database's schema version: it changes whenever a table or column is added, altered or dropped."""
    _, version_sql = engine.dialect.catalog_statements()
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
