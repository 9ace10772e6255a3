"""The demo's schema: every table of the Visma Business model, with every stored column, as SQLite DDL.

A real installation has all ~320 tables of the model, so the demo does too: the model (`metadata/visma-model.json`,
read through `redhorn.catalog.model`) lists each table's columns with their numbers, but knows SQL names for only a
few tables and types for a quarter of the columns. Where it is silent, the demo uses a **stand-in**, by rules kept
in one place each so that they can be documented and changed together:

- **Names**: a table or column whose SQL name is unknown is created under its English identifier (table
  `Country`, column `Country.IsoCode`), the convention by which the crawler names such tables.
- **Types** (`STAND_IN_TYPES`): the first rule that matches a column decides its type: its format (yyyymmdd dates
  are `int`), then the data type of its value domain (`Decimal` is `decimal(28,6)`), then its identifier's ending
  (`...Date` is an `int` date, `...Amount` a `decimal(28,6)`, `...Name` a `varchar`); anything else is an `int`,
  by far the commonest type in Visma Business.
- **Keys** (`stand_in_key`): the model's key where it knows one (~40 tables); otherwise, among the integer and
  text columns other than the bookkeeping ones every table has (`ChangedDate`, `Checksum`, ...), the
  `PrimaryKey` column, or for a table of lines its parent's number and `LineNo`, or the column named after the
  table (`Country.CountryNo`, `TaxCode.TaxCode`), or the first column whose identifier ends in `No`, or the
  first column. Every table has a primary key, so every resource is readable by key.

Columns are created in column-number order, then the columns only the curated dictionary knows (no number) in the
model file's order: the crawler's column-order hypothesis (a table's SQL ordinal order follows the column numbers)
holds in the demo by construction. Columns the model marks as not stored (shown by the program, never saved) are
left out, as a real database has no such column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from redhorn.catalog.model import Column, DatabaseKind, Model, Table

# How a column's SQL name or type was decided: from the model, or by a stand-in rule.
Source = Literal["model", "stand-in"]
# The roles a column's values take in generated rows (see `redhorn.tools.demo.filler`).
Role = Literal["date", "time", "user", "integer", "decimal", "text", "binary"]

# Stand-in types, first match wins: (what is tested, pattern, SQL type). "format" and "domain" rules compare the
# column's format or its value domain's data type whole; "name" rules search the column's identifier with its
# trailing digits and a trailing `Backup` removed (`Freight3Backup` is typed as `Freight`). No rule matched: int.
STAND_IN_TYPES: tuple[tuple[Literal["format", "domain", "name"], str, str], ...] = (
    ("format", "yyyymmdd", "int"),  # Visma's dates: int yyyymmdd, 0 when not set
    ("format", "hhmm", "smallint"),  # times: hhmm, as the model types ChangedTime
    ("format", "bitflags", "int"),
    ("format", "bool", "tinyint"),
    ("domain", "Decimal", "decimal(28,6)"),  # the only decimal type Visma Business uses
    ("domain", "LimitedString", "varchar"),  # length unknown
    ("domain", "UnlimitedString", "varchar"),
    ("domain", "Blob", "varbinary"),
    ("domain", "Integer", "int"),
    ("domain", "Value", "int"),  # enumerations
    ("domain", "Flags", "int"),  # bit flags
    ("domain", "TextType", "int"),  # a number into the Text table (delivery method, unit, ...)
    ("domain", "ModelNo", "int"),  # a table, column or report number
    ("name", r"(Date|Dt)$", "int"),  # dates without a format in the model
    ("name", r"(TimeInMs|Ms)$", "int"),  # milliseconds of the day
    ("name", r"Time$", "smallint"),  # hhmm
    ("name", r"(User|UserName|By)$", "varchar"),  # user names, as ChangedByUser
    ("name", r"(ProductNo|InvoiceNo|OrganisationNo|SerialNo|CustomerOrSupplierOrderNo)$", "varchar"),
    ("name", r"(PrimaryKey|TaxCode)$", "int"),  # before the Key and Code text rules below
    ("name", r"PerUnit$", "decimal(28,6)"),  # NetWeightPerUnit, before Unit (a text type, int)
    (
        "name",
        r"(Amount|Price|Quantity|Percent|Percentage|Rate|Sum|Total|Balance|Cb|Ob|Flow|Turnover|Weight|Volume"
        r"|Margin|Freight|Discount|Cost|Value|Factor|Fee|Interest|Hours|Share|Density|Length|InCurrency|Domestic"
        r"|Euro|Stock|Variance|Difference|Limit|Inflow|Outlay|Increase|Free)$",
        "decimal(28,6)",
    ),
    (
        "name",
        r"(Name|Text|Description|Information|Address|AddressLine|Note|Path|FileName|Folder|Email|Phone|Fax"
        r"|WebPage|Url|Reference|Code|Area|Password|Key|String|Namespace|Message|Keyword|Expression|Formula|Tag"
        r"|Label|Tooltip|Criteria|Parameters|Location|Title|Heading|Caption|Prefix|Suffix|Picture|Data|Initials"
        r"|Cid|Barcode|Guid|Iban|Swift|Bic)$",
        "varchar",
    ),
    ("name", r"Blob$", "varbinary"),
)
_STEM = re.compile(r"(?:\d+|Backup)+$")
_NAME_RULES = tuple((re.compile(pattern), sql_type) for test, pattern, sql_type in STAND_IN_TYPES if test == "name")
_DEFAULT_TYPE = "int"
_DECLARED = re.compile(r"^([a-z]+)\s*(?:\((\d+)(?:,\s*(\d+))?\))?$")


@dataclass(frozen=True, slots=True)
class DemoColumn:
    """One column as the demo creates it: SQL name, type, and where each came from."""

    identifier: str | None
    number: int | None
    sql: str
    type: str  # lower case, as the model writes types: int, smallint, varchar(80), decimal(28,6), ...
    format: str | None
    domain: str | None
    name_source: Source
    type_source: Source
    role: Role  # what the column holds, for generated values (see `column_role`)

    @property
    def base_type(self) -> str:
        """The type without its length or precision: int, varchar, decimal, ..."""
        return self.type.split("(", 1)[0]

    @property
    def length(self) -> int | None:
        """A text column's maximum length, where its type gives one."""
        match = _DECLARED.match(self.type)
        if match and self.base_type in ("varchar", "nvarchar", "char") and match.group(2):
            return int(match.group(2))
        return None


@dataclass(frozen=True, slots=True)
class DemoTable:
    """One table or view as the demo creates it, from the model."""

    identifier: str
    number: int | None
    sql: str
    kind: Literal["table", "view"]
    columns: tuple[DemoColumn, ...]
    key: tuple[str, ...]  # SQL names of the primary key's columns, in key order
    key_source: Source
    name_source: Source
    model: Table

    def column(self, sql_name: str) -> DemoColumn | None:
        lowered = sql_name.lower()
        return next((c for c in self.columns if c.sql.lower() == lowered), None)

    @property
    def rowid_key(self) -> bool:
        """Whether the key is one integer column, stored as SQLite's rowid (the fastest and smallest table)."""
        return len(self.key) == 1 and (column := self.column(self.key[0])) is not None and column.base_type == "int"


def _stem(identifier: str) -> str:
    """The identifier the name rules test: without trailing digits and `Backup` (`Freight3Backup` -> `Freight`)."""
    return _STEM.sub("", identifier) or identifier


def column_role(identifier: str, sql_type: str, value_format: str | None) -> Role:
    """What a column holds, for generated values: a date, a time, a user name, a number, text or bytes."""
    base = sql_type.split("(", 1)[0]
    name = _stem(identifier)
    if base in ("varchar", "nvarchar", "char", "text"):
        return "user" if re.search(r"(User|UserName|By)$", name) else "text"
    if base in ("decimal", "numeric", "float", "real"):
        return "decimal"
    if base in ("varbinary", "binary", "image", "blob"):
        return "binary"
    if value_format == "yyyymmdd" or re.search(r"(Date|Dt)$", name):
        return "date"
    if value_format == "hhmm" or (base == "smallint" and re.search(r"Time$", name)):
        return "time"
    return "integer"


def stand_in_type(column: Column, domain_type: str | None) -> str:
    """The type `STAND_IN_TYPES` gives a column whose type the model does not know."""
    stem = _stem(column.name or column.sql or "")
    for test, pattern, sql_type in STAND_IN_TYPES:
        if test == "format" and column.format == pattern:
            return sql_type
        if test == "domain" and domain_type == pattern:
            return sql_type
    for expression, sql_type in _NAME_RULES:
        if expression.search(stem):
            return sql_type
    return _DEFAULT_TYPE


# Columns every Visma table carries for its own bookkeeping: never part of a stand-in key.
BOOKKEEPING_COLUMNS = frozenset(
    {"LockedByProcessNo", "EditStatus", "Checksum", "ChangeTimeInMs", "CreatedTimeInMs"}
    | {f"{when}{what}" for when in ("Changed", "Created") for what in ("Date", "Time", "ByUser")}
)


def stand_in_key(table: Table, columns: Sequence[DemoColumn]) -> tuple[str, ...]:
    """The identifiers of a table's key: the model's where it knows it, else the stand-in key.

    The stand-in key, tried in turn among the table's integer and text columns other than the bookkeeping ones,
    in column-number order: a `PrimaryKey` column; for a table with a `LineNo`, the first other column ending
    in `No` (the parent's number) and `LineNo`; the column named after the table (`CountryNo` or `TaxCode`);
    the first column ending in `No`; the first column.
    """
    if table.key:
        return table.key
    names = [
        c.identifier
        for c in columns
        if c.identifier and c.identifier not in BOOKKEEPING_COLUMNS and c.role in ("integer", "text")
    ]
    by_lower = {name.lower(): name for name in names}
    if "primarykey" in by_lower:
        return (by_lower["primarykey"],)
    numbers = [name for name in names if name.endswith("No")]
    if "LineNo" in names:
        parent = next((name for name in numbers if name != "LineNo"), None)
        return (parent, "LineNo") if parent else ("LineNo",)
    own = by_lower.get(table.name.lower() + "no") or by_lower.get(table.name.lower())
    if own:
        return (own,)
    if numbers:
        return (numbers[0],)
    if names:
        return (names[0],)
    raise ValueError(f"{table.name}: no column can stand in for its key")


def stored_columns(table: Table) -> tuple[Column, ...]:
    """The columns a database holds, in the demo's order: by column number, then the unnumbered ones."""
    stored = [c for c in table.columns if c.stored]
    numbered = sorted((c for c in stored if c.no is not None), key=lambda c: c.no or 0)
    return (*numbered, *(c for c in stored if c.no is None))


def demo_table(model: Model, table: Table) -> DemoTable:
    """The demo's version of one model table: SQL names and types from the model, stand-ins where unknown."""
    columns: list[DemoColumn] = []
    for column in stored_columns(table):
        sql = column.sql or column.name
        assert sql is not None, f"{table.name}: a column with neither identifier nor SQL name"
        domain = model.domains.get(column.domain) if column.domain else None
        known_type = column.type.lower() if column.type else None
        sql_type = known_type or stand_in_type(column, domain.data_type if domain else None)
        columns.append(
            DemoColumn(
                identifier=column.name,
                number=column.no,
                sql=sql,
                type=sql_type,
                format=column.format,
                domain=column.domain,
                name_source="model" if column.sql else "stand-in",
                type_source="model" if known_type else "stand-in",
                role=column_role(column.name or sql, sql_type, column.format),
            )
        )
    by_identifier = {c.identifier.lower(): c for c in columns if c.identifier}
    key = tuple(by_identifier[name.lower()].sql for name in stand_in_key(table, columns))
    return DemoTable(
        identifier=table.name,
        number=table.table_no,
        sql=table.sql or table.name,
        kind=table.kind,
        columns=tuple(columns),
        key=key,
        key_source="model" if table.key else "stand-in",
        name_source="model" if table.sql else "stand-in",
        model=table,
    )


def demo_tables(model: Model, kind: DatabaseKind) -> tuple[DemoTable, ...]:
    """Every table and view of one kind of database, as the demo creates them."""
    return tuple(demo_table(model, table) for table in model.tables(kind))


@dataclass(frozen=True, slots=True)
class DemoSchema:
    """The demo's tables for every kind of database, worked out once per build from the model."""

    model: Model
    tables: dict[DatabaseKind, tuple[DemoTable, ...]]

    @classmethod
    def of(cls, model: Model) -> DemoSchema:
        kinds: tuple[DatabaseKind, ...] = ("company", "vbsys", "catalog")
        return cls(model, {kind: demo_tables(model, kind) for kind in kinds})


def column_definition(table: DemoTable, column: DemoColumn) -> str:
    """A column's SQLite definition with Visma's 'not set' default: '' for text, 0 for numbers, x'' for bytes.

    Text compares case-insensitively, as in SQL Server's default collation. A single integer key is declared
    `INTEGER` so that it is the rowid.
    """
    quoted = _quote(column.sql)
    declared = column.type.upper()
    role = column.role
    if role in ("text", "user"):
        return f"{quoted} {declared} NOT NULL DEFAULT '' COLLATE NOCASE"
    if role == "binary":
        return f"{quoted} {declared} NOT NULL DEFAULT x''"
    if table.rowid_key and table.key == (column.sql,):
        return f"{quoted} INTEGER NOT NULL"
    return f"{quoted} {declared} NOT NULL DEFAULT 0"


def create_table_statement(table: DemoTable) -> str:
    """CREATE TABLE for one demo table: a rowid table for a single integer key, WITHOUT ROWID otherwise."""
    columns = ", ".join(column_definition(table, column) for column in table.columns)
    key = ", ".join(_quote(name) for name in table.key)
    suffix = "" if table.rowid_key else " WITHOUT ROWID"
    return f"CREATE TABLE {_quote(table.sql)} ({columns}, PRIMARY KEY ({key})){suffix}"


# The curated views over Associate, with the rows each shows.
VIEW_FILTERS = {"CustV": '"CustNo" <> 0', "SupV": '"SupNo" <> 0', "EmpV": '"EmpNo" <> 0'}


def create_view_statement(table: DemoTable, tables: Iterable[DemoTable]) -> str:
    """CREATE VIEW for one of the curated views: the associates that are customers, suppliers or employees."""
    associate = next(t for t in tables if t.identifier == "Associate")
    return f"CREATE VIEW {_quote(table.sql)} AS SELECT * FROM {_quote(associate.sql)} WHERE {VIEW_FILTERS[table.sql]}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
