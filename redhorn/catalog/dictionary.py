"""The Visma Business data dictionary shipped in `metadata/`: SQL names to English identifiers.

A database's catalog tells which tables and columns exist and their types; only the dictionary
knows that `Ord.CustNo` is `Order.CustomerNo`, column number 4045's neighbour, resource `orders`.
The crawler merges the two. Each entry carries the confidence of its public source (V verified,
C corroborated, L low, G guessed) so that guesses stay visible.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

DatabaseKind = Literal["company", "vbsys", "catalog"]

# The repository's top-level metadata/ folder, mapped into the package at build time
# (pyproject.toml), so that an installed wheel reads the same file as a checkout.
DICTIONARY_PACKAGE = "redhorn._dictionary"
DICTIONARY_FILE = "visma-business.json"


class DictionaryColumn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sql: str
    name: str | None
    type: str
    confidence: str
    no: int | None = None
    domain: str | None = None
    note: str | None = None


class DictionaryTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"table_no": "tableNo"}):
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
        lowered = sql_name.lower()
        for column in self.columns:
            if column.sql.lower() == lowered:
                return column
        return None


class Dictionary(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: int
    about: str
    databases: dict[DatabaseKind, tuple[DictionaryTable, ...]]

    def tables(self, kind: DatabaseKind) -> tuple[DictionaryTable, ...]:
        return self.databases.get(kind, ())

    def table(self, kind: DatabaseKind, sql_name: str) -> DictionaryTable | None:
        lowered = sql_name.lower()
        for table in self.tables(kind):
            if table.sql.lower() == lowered:
                return table
        return None


def load_dictionary(path: Path | None = None) -> Dictionary:
    """Read the dictionary shipped in the package, or the file at `path`.

    A malformed dictionary is a packaging bug and raises msgspec's error.
    """
    data = (
        path.read_bytes()
        if path is not None
        else resources.files(DICTIONARY_PACKAGE).joinpath(DICTIONARY_FILE).read_bytes()
    )
    return msgspec.json.decode(data, type=Dictionary)
