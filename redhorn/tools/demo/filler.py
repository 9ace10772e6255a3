"""A few rows for each demo table the story in `build.py` does not fill, so that every resource has data to read.

The ~280 tables of the model that the demo's story (associates, products, orders, ledger, ...) leaves alone get
`FILLER_ROWS` rows each. The values are deterministic and valid for their column's type and the table's key:

- key columns count 1, 2, 3 (text keys '1', '2', '3'; years count back), so the rows are distinct whatever the key;
- a column named like a populated table's number (`CustomerNo`, `ProductNo`, `CurrencyNo`, ... see
  `references`) takes that table's first numbers, so that a relation from the row leads somewhere;
- a column with a value domain takes its members in turn (an `OrderType` is a real order type);
- years count back from the demo's today, dates are days before it, times hhmm, user names 'system', amounts
  small decimals, text a few words (`TEXT_VALUES`) cut to the column's length, bytes empty.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from redhorn.catalog.model import Model
from redhorn.tools.demo.schema import DemoColumn, DemoTable

FILLER_ROWS = 3
Value = int | str | bytes | Decimal
Stored = int | str | bytes | float  # a value as it goes to SQLite
# A reference list: the first few numbers of a populated table, by the identifier that names them.
References = Mapping[str, Sequence[int | str]]

# Text by the column identifier's ending, first match wins: (pattern, template). The template may use
# {table} (the table's identifier), {column} (the column's identifier) and {n} (the row's number).
TEXT_VALUES: tuple[tuple[str, str], ...] = (
    (r"(Email|MailAddress)$", "post{n}@{table_lower}.example"),
    (r"(Phone|Fax)$", "+47 2{n}{n}0 000{n}"),
    (r"(WebPage|Url)$", "https://{table_lower}.example/{n}"),
    (r"(PostCode|PostalCode)$", "0{n}50"),
    (r"(IsoCode|CurrencyCode|Code)$", "C{n}"),
    (r"Name$", "{table} {n}"),
    (r"", "{column} {n}"),
)
_TEXT_RULES = tuple((re.compile(pattern), template) for pattern, template in TEXT_VALUES)
_TIMES = (815, 1230, 1545)
_YEAR = re.compile(r"Year\d*$")


def _text(table: DemoTable, column: DemoColumn, n: int) -> str:
    label = column.identifier or column.sql
    for expression, template in _TEXT_RULES:
        if expression.search(label):
            text = template.format(table=table.identifier, table_lower=table.identifier.lower(), column=label, n=n)
            return text[: column.length] if column.length else text
    raise AssertionError("unreachable: the last text rule matches every identifier")  # pragma: no cover


def _reference(column: DemoColumn, references: References) -> Sequence[int | str] | None:
    """The populated table's numbers a column refers to by its name (`InvoiceCustomerNo` -> the customers')."""
    identifier = column.identifier or ""
    best = max((name for name in references if identifier.endswith(name)), key=len, default=None)
    if best is None:
        return None
    values = references[best]
    wanted = str if column.role == "text" else int
    return values if values and all(isinstance(v, wanted) for v in values) else None


def column_value_maker(
    model: Model, table: DemoTable, column: DemoColumn, references: References, today: dt.date
) -> Callable[[int], Value]:
    """How column `column` of `table` is filled in row n (1, 2, 3, ...)."""
    role = column.role
    in_key = column.sql in table.key
    referenced = _reference(column, references)
    if referenced is not None and (not in_key or len(set(referenced)) >= FILLER_ROWS):
        return lambda n: referenced[(n - 1) % len(referenced)]
    if role == "integer" and _YEAR.search(column.identifier or ""):
        return lambda n: today.year - n + 1  # this year and the ones before it: distinct, so fit for a key
    if in_key:
        return (lambda n: str(n)) if role == "text" else (lambda n: n)
    if role == "date":
        return lambda n: _yyyymmdd(today - dt.timedelta(days=30 * n))
    if role == "time":
        return lambda n: _TIMES[(n - 1) % len(_TIMES)]
    if role == "user":
        return lambda n: "system"
    if role == "binary":
        return lambda n: b""
    if role == "text":
        return lambda n: _text(table, column, n)
    if role == "decimal":
        step = Decimal((column.number or 0) % 89 + 1) * Decimal("1.25")
        return lambda n: step * n
    domain = model.domains.get(column.domain) if column.domain else None
    if domain is not None and domain.members:
        members = sorted(set(domain.members.values()))
        return lambda n: members[(n - 1) % len(members)]
    if column.format == "bool" or column.base_type == "tinyint":
        return lambda n: n % 2
    return lambda n: n


def filler_rows(
    model: Model, table: DemoTable, references: References, today: dt.date, count: int = FILLER_ROWS
) -> list[tuple[Stored, ...]]:
    """`count` rows for `table`, one value per column in column order."""
    makers = [column_value_maker(model, table, column, references, today) for column in table.columns]
    return [tuple(_stored(make(n)) for make in makers) for n in range(1, count + 1)]


def fill_empty_tables(
    connection: sqlite3.Connection,
    model: Model,
    tables: Sequence[DemoTable],
    references: References,
    today: dt.date,
) -> list[str]:
    """Give every empty table of `tables` its few rows; returns the SQL names of the tables filled."""
    filled: list[str] = []
    for table in tables:
        if table.kind != "table":
            continue
        quoted = _quote(table.sql)
        if connection.execute(f"SELECT EXISTS (SELECT 1 FROM {quoted})").fetchone()[0]:
            continue
        names = ", ".join(_quote(column.sql) for column in table.columns)
        marks = ", ".join("?" for _ in table.columns)
        connection.executemany(
            f"INSERT INTO {quoted} ({names}) VALUES ({marks})", filler_rows(model, table, references, today)
        )
        filled.append(table.sql)
    return filled


def _stored(value: Value) -> Stored:
    """A value as SQLite stores it: decimals as the demo's other decimals are, binary floats."""
    return float(value) if isinstance(value, Decimal) else value


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
