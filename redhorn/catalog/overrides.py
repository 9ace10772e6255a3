"""Site overrides: a user's corrections of SQL names, merged over the shipped model without a release.

Most SQL names in the public model are inferences. A user who finds one wrong on a real installation (with
`redhorn dictionary report`) writes the right one in `metadata/overrides.json` beside the settings file
(`config/metadata/overrides.json` for `config/appsettings.json`); redhorn reads it when it loads the
dictionary. The format, by database kind ("company", "vbsys", "catalog"), then by table identifier, then by
column identifier; `//` and `/* */` comments and trailing commas are allowed, as in the settings file:

    {
      "company": {
        "Order": {"sql": "Ord", "columns": {"OrderNo": {"sql": "OrdNo"}}},
        "CustomerTransaction": {"columns": {"AmountDomestic": {"sql": "Am"}, "Free1": {"sql": null}}}
      }
    }

`"sql": "Name"` names the SQL table or column (an override is a fact about that installation: confidence V);
`"sql": null` says the model's SQL name is wrong and there is none known. A SQL name given to one table or
column is taken from any other of the same table list or table, so that names stay unique.

An identifier the dictionary does not know, or a malformed file, stops startup with a message naming the file,
the key and the line: an override that silently did nothing would leave the user guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import msgspec

from redhorn.catalog.model import Column, DatabaseKind, Model, Table
from redhorn.errors import OverridesError
from redhorn.settings import strip_comments

OVERRIDES_FOLDER = "metadata"
OVERRIDES_FILE = "overrides.json"
KINDS: tuple[DatabaseKind, ...] = get_args(DatabaseKind)
SHAPE = '{"company": {"<Table>": {"sql": "<SQL name>", "columns": {"<Column>": {"sql": "<SQL name>"}}}}}'


@dataclass(frozen=True)
class TableOverride:
    """The corrections for one table: its SQL name where `renamed`, and its columns' SQL names by identifier.

    A SQL name of None says there is none known (the model's guess was wrong).
    """

    renamed: bool = False
    sql: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)


Overrides = dict[DatabaseKind, dict[str, TableOverride]]


def overrides_file(settings_file: Path) -> Path:
    """Where the site overrides of an installation live: `metadata/overrides.json` beside its settings file."""
    return settings_file.resolve().parent / OVERRIDES_FOLDER / OVERRIDES_FILE


class _Reader:
    """Walks the decoded file, checking each value's shape, so that an error names the key it is about."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(self, keys: list[str], reason: str) -> OverridesError:
        where = "$" + "".join(f".{key}" for key in keys)
        line = _locate(self.text, keys)
        return OverridesError(f"{self.source}: {reason} (key {where}, line {line}); expected {SHAPE}")

    def mapping(self, value: Any, keys: list[str], allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keys, f"expected an object, got {type(value).__name__}")
        for key in value:
            if allowed is not None and key not in allowed:
                raise self.fail([*keys, key], f"unknown key {key!r}; an entry takes {' and '.join(allowed)}")
        return value

    def sql(self, entry: dict[str, Any], keys: list[str]) -> str | None:
        value = entry["sql"]
        if value is None or (isinstance(value, str) and 0 < len(value) <= 128):
            return value
        raise self.fail([*keys, "sql"], f"a SQL name is a string of 1 to 128 characters, or null; got {value!r}")

    def overrides(self, document: Any) -> Overrides:
        result: Overrides = {}
        for kind, tables in self.mapping(document, []).items():
            if kind not in KINDS:
                raise self.fail([kind], f"unknown database kind {kind!r}; use {', '.join(KINDS)}")
            result[kind] = {
                identifier: self.table(entry, [kind, identifier])
                for identifier, entry in self.mapping(tables, [kind]).items()
            }
        return result

    def table(self, value: Any, keys: list[str]) -> TableOverride:
        entry = self.mapping(value, keys, ("sql", "columns"))
        columns: dict[str, str | None] = {}
        for identifier, column_value in self.mapping(entry.get("columns", {}), [*keys, "columns"]).items():
            column_keys = [*keys, "columns", identifier]
            column = self.mapping(column_value, column_keys, ("sql",))
            if "sql" not in column:
                raise self.fail(column_keys, "a column's entry needs its sql")
            columns[identifier] = self.sql(column, column_keys)
        if "sql" in entry:
            return TableOverride(True, self.sql(entry, keys), columns)
        return TableOverride(False, None, columns)


def parse_overrides(text: str, source: str) -> Overrides:
    """Decode the text of an overrides file; `source` names it in errors.

    Raises:
        OverridesError: the text is not JSON (comments aside) or not of the documented shape.
    """
    cleaned = strip_comments(text)
    try:
        document = msgspec.json.decode(cleaned)
    except msgspec.DecodeError as exc:
        message = str(exc)
        at = re.search(r"byte (\d+)", message)
        line = cleaned.count("\n", 0, int(at.group(1))) + 1 if at else 1
        raise OverridesError(f"{source}: not valid JSON: {message} (line {line})") from None
    return _Reader(cleaned, source).overrides(document)


def _locate(text: str, keys: list[str]) -> int:
    """The line of the last of `keys`, found by scanning for each in turn: exact enough to point at the line."""
    position = 0
    for key in keys:
        found = text.find(f'"{key}"', position)
        if found == -1:
            break
        position = found
    return text.count("\n", 0, position) + 1


def apply_overrides(model: Model, overrides: Overrides, source: str, text: str = "") -> Model:
    """The model with the overrides' SQL names in place of its own.

    Raises:
        OverridesError: an override names a table or column identifier the model does not hold.
    """
    if not overrides:
        return model
    databases = dict(model.databases)
    for kind, by_table in overrides.items():
        tables = list(model.tables(kind))
        positions = {table.name.lower(): i for i, table in enumerate(tables)}
        for identifier, override in by_table.items():
            position = positions.get(identifier.lower())
            if position is None:
                line = _locate(text, [kind, identifier])
                raise OverridesError(
                    f"{source}: {kind} table {identifier!r} is not in the dictionary "
                    f"(key $.{kind}.{identifier}, line {line}); tables are named by their English identifier"
                )
            if override.renamed:
                _release_table_name(tables, override.sql, position)
            tables[position] = _table(tables[position], override, kind, source, text)
        databases[kind] = tuple(tables)
    return msgspec.structs.replace(model, databases=databases)


def _release_table_name(tables: list[Table], sql: str | None, keep: int) -> None:
    """Take the SQL name `sql` from every table but the one at `keep`: a SQL name names one table."""
    if sql is None:
        return
    for i, table in enumerate(tables):
        if i != keep and table.sql is not None and table.sql.lower() == sql.lower():
            tables[i] = msgspec.structs.replace(table, sql=None, sql_confidence=None)


def _table(table: Table, override: TableOverride, kind: str, source: str, text: str) -> Table:
    columns = list(table.columns)
    positions = {column.name.lower(): i for i, column in enumerate(columns) if column.name is not None}
    for identifier, sql in override.columns.items():
        position = positions.get(identifier.lower())
        if position is None:
            line = _locate(text, [kind, table.name, "columns", identifier])
            raise OverridesError(
                f"{source}: {table.name} has no column {identifier!r} in the dictionary "
                f"(key $.{kind}.{table.name}.columns.{identifier}, line {line}); columns are named by their "
                "English identifier"
            )
        if sql is not None:
            for i, column in enumerate(columns):
                if i != position and column.sql is not None and column.sql.lower() == sql.lower():
                    columns[i] = msgspec.structs.replace(column, sql=None, sql_confidence=None)
        columns[position] = _column(columns[position], sql)
    if not override.renamed:
        return msgspec.structs.replace(table, columns=tuple(columns))
    return msgspec.structs.replace(
        table, sql=override.sql, sql_confidence="V" if override.sql else None, columns=tuple(columns)
    )


def _column(column: Column, sql: str | None) -> Column:
    """The column under its site SQL name; a column given a SQL name is stored, whatever the model thought."""
    if sql is None:
        return msgspec.structs.replace(column, sql=None, sql_confidence=None)
    return msgspec.structs.replace(column, sql=sql, sql_confidence="V", stored=True)


def load_overrides(model: Model, path: Path) -> Model:
    """The model with the overrides at `path` merged over it; no file there means no overrides."""
    if not path.is_file():
        return model
    try:
        text = strip_comments(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise OverridesError(f"Cannot read the dictionary overrides file {str(path)!r}: {exc.strerror}") from None
    return apply_overrides(model, parse_overrides(text, str(path)), str(path), text)
