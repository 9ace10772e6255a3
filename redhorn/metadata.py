"""The metadata cache: what each database holds, under the names the API shows.

Built once by the crawler, then never changed: requests only read it. Lookups of resources and
properties are case-insensitive, as Visma's identifiers are.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TypeKind = Literal["integer", "decimal", "float", "string", "boolean", "datetime", "binary"]


class Column(msgspec.Struct, frozen=True):
    """One column: its SQL name, the property name the API shows and its type."""

    sql_name: str
    name: str
    kind: TypeKind
    sql_type: str
    nullable: bool = False
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    number: int | None = None
    # "date" (int yyyymmdd), "time" (int hhmm) or "flags" (bit field), as Visma stores them.
    domain: str | None = None
    known: bool = True
    # Visma's value domain of the column (`OrderType`), and its members as (name, value) in value order.
    value_domain: str | None = None
    values: tuple[tuple[str, int], ...] = ()


class Relation(msgspec.Struct, frozen=True):
    """A foreign key the dictionary declares: to `target` (a table's English name), by column pairs.

    `columns` pairs this table's property names with the target's; empty where the pairing is unknown.
    """

    name: str
    target: str | None
    columns: tuple[tuple[str, str], ...] = ()
    number: int | None = None
    confidence: str = "G"


class ChangeStamps(msgspec.Struct, frozen=True):
    """The property names of the columns that stamp a row's last change and its creation."""

    changed_date: str
    changed_time: str
    changed_by: str | None = None
    changed_time_ms: str | None = None
    created_date: str | None = None
    created_time: str | None = None
    created_by: str | None = None


class Table(msgspec.Struct, frozen=True):
    """One table or view of one database, exposed as the resource `resource`."""

    sql_name: str
    name: str
    resource: str
    columns: tuple[Column, ...]
    key: tuple[Column, ...]
    number: int | None = None
    is_view: bool = False
    known: bool = True
    relations: tuple[Relation, ...] = ()
    change_stamps: ChangeStamps | None = None
    # How the SQL names became English ones: "dictionary", "column-order", "stand-in" or "sql".
    named_by: str = "dictionary"
    by_name: dict[str, Column] = {}
    by_sql_name: dict[str, Column] = {}

    def __post_init__(self) -> None:
        self.by_name.update({column.name.lower(): column for column in self.columns})
        self.by_sql_name.update({column.sql_name.lower(): column for column in self.columns})

    def column(self, name: str) -> Column | None:
        """The column whose property name is `name`, in any letter case."""
        return self.by_name.get(name.lower())

    def column_by_sql_name(self, sql_name: str) -> Column | None:
        """The column whose SQL name is `sql_name`, in any letter case (writes address columns so)."""
        return self.by_sql_name.get(sql_name.lower())


class Database(msgspec.Struct, frozen=True):
    """One physical database: a company's (`F9999`), `vbsys` or `Catalog`."""

    name: str
    tables: tuple[Table, ...]
    schema_version: str = ""
    by_resource: dict[str, Table] = {}
    by_sql_name: dict[str, Table] = {}

    def __post_init__(self) -> None:
        self.by_resource.update({table.resource.lower(): table for table in self.tables})
        self.by_sql_name.update({table.sql_name.lower(): table for table in self.tables})

    def table(self, resource: str) -> Table | None:
        return self.by_resource.get(resource.lower())

    def table_by_sql_name(self, sql_name: str) -> Table | None:
        """The table whose SQL name is `sql_name`, in any letter case (writes address tables so)."""
        return self.by_sql_name.get(sql_name.lower())


class Company(msgspec.Struct, frozen=True):
    number: int
    name: str
    database: str


class Metadata(msgspec.Struct, frozen=True):
    """All databases and the company list from `vbsys`."""

    databases: dict[str, Database]
    companies: dict[int, Company]
    system_database: str = "vbsys"
    catalog_database: str = "Catalog"
    crawl_seconds: float = 0.0


def company_database_name(company_no: int) -> str:
    """Visma's rule: `F` and the company number, zero-padded to four digits (1 -> F0001)."""
    return f"F{company_no:04d}"
