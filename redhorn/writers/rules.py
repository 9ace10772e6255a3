"""The business logic the embedded writer runs on each assignment, standing in for Visma's.

Visma Business reacts to every `Set…Value` of a row: set an order's `CustomerNo` and the
customer's name, address, currency and payment terms are filled in; set a line's `ProductNo`
and its description, unit and price follow; quantity and price give the amount. Later
assignments in the same row may override what a rule filled in, which is why the order of a
write body's properties matters. The rules here are the ones clients depend on, kept as data
(which columns come from where) and a few small functions, each run after the assignment that
triggers it.

Rules only touch columns the database really has, so a company database without, say,
`Actor.PmtTrm` still takes writes.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from redhorn.errors import InvalidValue
from redhorn.metadata import Database, Table
from redhorn.writers.lookups import UNANSWERED, Lookups
from redhorn.writers.model import Assign, Message, RowWrite, Step

# A line table's rows live inside a row of its head table: their key is the head's key and a line
# number given within it; they may be written nested in the head (`OrderLines` inside an order),
# go when the head is deleted, and the head's totals follow them.
LINE_TABLES: dict[str, str] = {"OrdLn": "Ord"}

# What an order takes from its customer (or supplier): order column <- associate column; the
# exchange rate then comes from the currency's row.
ORDER_FROM_ASSOCIATE = (
    ("Nm", "Nm"),
    ("Ad1", "Ad1"),
    ("Ad2", "Ad2"),
    ("Ad3", "Ad3"),
    ("PNo", "PNo"),
    ("PArea", "PArea"),
    ("DelNm", "Nm"),
    ("DelAd1", "Ad1"),
    ("DelAd2", "Ad2"),
    ("DelAd3", "Ad3"),
    ("DelPNo", "PNo"),
    ("DelPArea", "PArea"),
    ("Cur", "Cur"),
    ("PmtTrm", "PmtTrm"),
)
# What a line takes from its product: line column <- product column.
LINE_FROM_PRODUCT = (("Descr", "Descr"), ("Un", "StSaleUn"))
# (table, column) assigned -> the (table, column) rows are then looked up by, with the value as key.
LOOKED_UP_BY: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("OrdLn", "ProdNo"): (("Prod", "ProdNo"), ("PrDcMat", "ProdNo")),
}
# What a new line takes from its order head.
LINE_FROM_HEAD = (("TrTp", "TrTp"), ("Cur", "Cur"), ("DelDt", "DelDt"))
# Visma's own record of when a row was made and last changed: the day (int yyyymmdd), the time
# (hhmm) and the time in milliseconds since midnight. Delta links read them as a row's version.
CREATED_COLUMN, CHANGED_COLUMN = "CreDt", "ChDt"
CREATED_TIME_COLUMN, CHANGED_TIME_COLUMN, CHANGED_MS_COLUMN = "CreTm", "ChTm", "ChTmms"
CENT = Decimal("0.01")


@dataclass
class RowState:
    """A row being written: its table, its values by SQL name, and the rules' messages about it."""

    connection: sqlite3.Connection
    database: Database
    table: Table
    values: dict[str, Any]
    today: int
    head: dict[str, Any] | None = None
    # The time of the write, as Visma stamps it: (hhmm, milliseconds since midnight).
    time_of_day: tuple[int, int] = (0, 0)
    messages: list[Message] = field(default_factory=list)
    # The request's batched reads; without them each lookup is a statement of its own.
    lookups: Lookups | None = None

    def has(self, column: str) -> bool:
        return column in self.values

    def set(self, column: str, value: Any) -> None:
        if column in self.values:
            self.values[column] = value

    def property_name(self, column: str) -> str:
        found = self.table.column_by_sql_name(column)
        return found.name if found else column

    def lookup(self, table: str, columns: Iterable[str], where: str, value: Any) -> dict[str, Any] | None:
        """The first row of `table` whose `where` column is `value`, with those of `columns` it has."""
        source = self.database.table_by_sql_name(table)
        if source is None:
            return None
        present = tuple(c for c in columns if source.column_by_sql_name(c) is not None)
        if self.lookups is not None:
            found = self.lookups.first(
                (source.sql_name, where, present),
                value,
                lambda keys: self.connection.execute(
                    _batch_statement(source.sql_name, present, where)(len(keys)), keys
                ),
            )
            if found is not UNANSWERED:
                return None if found is None else dict(zip(present, found[1:], strict=True))
        row = self.connection.execute(_lookup_statement(source.sql_name, present, where), (value,)).fetchone()
        return None if row is None else dict(zip(present, row, strict=True))


Rule = Callable[[RowState], None]


@functools.lru_cache(maxsize=256)
def _lookup_statement(table: str, columns: tuple[str, ...], where: str) -> str:
    select = ", ".join(quote(c) for c in columns) or "1"
    return f"SELECT {select} FROM {quote(table)} WHERE {quote(where)} = ? LIMIT 1"


@functools.lru_cache(maxsize=256)
def _batch_statement(table: str, columns: tuple[str, ...], where: str) -> Callable[[int], str]:
    """`_lookup_statement` for many keys at once, each row led by its key."""
    select = ", ".join(quote(c) for c in (where, *columns))

    @functools.lru_cache(maxsize=8)
    def statement(keys: int) -> str:
        return f"SELECT {select} FROM {quote(table)} WHERE {quote(where)} IN ({', '.join('?' * keys)})"

    return statement


def want_lookups(lookups: Lookups, database: Database, table: Table, rows: Iterable[RowWrite]) -> None:
    """Announce the keys that rows to add and their nested rows will have the rules look up (their
    lines' products), so that the first lookup reads them all."""
    for row in rows:
        _want(lookups, table.sql_name, row.steps)
        for join in row.joins:
            child = database.table_by_sql_name(join.table)
            if child is not None:
                for line in join.rows:
                    _want(lookups, child.sql_name, line.steps)


def _want(lookups: Lookups, table: str, steps: Iterable[Step]) -> None:
    for step in steps:
        for source, column in LOOKED_UP_BY.get((table, step.column), ()):
            if isinstance(step, Assign):
                lookups.want(source, column, (step.value,))


def quote(name: str) -> str:
    """A SQLite identifier in double quotes (names come from the metadata, never from a client)."""
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def _origins(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The source columns of (target, source) pairs, each once, in order."""
    return tuple(dict.fromkeys(origin for _, origin in pairs))


def _copy(state: RowState, source: dict[str, Any], pairs: Iterable[tuple[str, str]]) -> list[str]:
    filled = []
    for target, origin in pairs:
        if origin in source and state.has(target):
            state.values[target] = source[origin]
            filled.append(state.property_name(target))
    return filled


def _fill_from_associate(role: str, number_column: str) -> Rule:
    def rule(state: RowState) -> None:
        number = state.values.get(number_column)
        if not number:
            return
        associate = state.lookup("Actor", _origins(ORDER_FROM_ASSOCIATE), number_column, number)
        if associate is None:
            name = state.property_name(number_column)
            raise InvalidValue(f"No associate has {name} {number}", target=name)
        filled = _copy(state, associate, ORDER_FROM_ASSOCIATE)
        if _exchange_rate(state):
            filled.append(state.property_name("ExRt"))
        if filled:
            state.messages.append(Message("info", f"{', '.join(filled)} filled in from {role} {number}"))

    return rule


def _exchange_rate(state: RowState) -> bool:
    """An order's exchange rate from its currency's row; whether one was found."""
    currency = state.lookup("Cur", ("ExRt",), "CurNo", state.values.get("Cur"))
    if not currency or "ExRt" not in currency or not state.has("ExRt"):
        return False
    state.values["ExRt"] = currency["ExRt"]
    return True


def _currency(state: RowState) -> None:
    _exchange_rate(state)


def _fill_from_product(state: RowState) -> None:
    product_no = state.values.get("ProdNo")
    if not product_no:
        return
    product = state.lookup("Prod", _origins(LINE_FROM_PRODUCT), "ProdNo", product_no)
    if product is None:
        name = state.property_name("ProdNo")
        raise InvalidValue(f"No product has {name} {product_no!r}", target=name)
    filled = _copy(state, product, LINE_FROM_PRODUCT)
    price = _price(state, product_no)
    if price is not None:
        state.set("Price", price[0])
        state.set("Dc1P", price[1])
        filled += [state.property_name("Price"), state.property_name("Dc1P")]
    if filled:
        state.messages.append(Message("info", f"{', '.join(filled)} filled in from product {product_no}"))
    _line_amount(state)


def _price(state: RowState, product_no: str) -> tuple[Any, Any] | None:
    """The sales price and discount of a product for the order's customer on the order's date.

    A price of the customer's own comes before the list price (customer 0); a later start date
    before an earlier one.
    """
    matrix = state.database.table_by_sql_name("PrDcMat")
    if matrix is None or any(matrix.column_by_sql_name(c) is None for c in ("ProdNo", "CustNo", "SalePr", "SaleDcP")):
        return None
    head = state.head or state.lookup("Ord", ("CustNo", "OrdDt"), "OrdNo", state.values.get("OrdNo")) or {}
    customer = head.get("CustNo") or 0
    day = head.get("OrdDt") or state.today
    dated = all(matrix.column_by_sql_name(c) is not None for c in ("FrDt", "ToDt"))
    terms: tuple[Any, ...] = (customer, *((day, day) if dated else ()), customer)
    if state.lookups is not None:
        found = state.lookups.first(
            (matrix.sql_name, "ProdNo", customer, day),
            product_no,
            lambda keys: state.connection.execute(_price_statement(dated)(len(keys)), (*keys, *terms)),
            reserved=len(terms),
            unique=False,
        )
        if found is not UNANSWERED:
            return None if found is None else (found[1], found[2])
    row = state.connection.execute(_price_statement(dated)(0), (product_no, *terms)).fetchone()
    return None if row is None else (row[0], row[1])


@functools.cache
def _price_statement(dated: bool) -> Callable[[int], str]:
    """The price statement: for one product (0), the first row of `= ?`; for n products, every row
    of `IN (...)`, each led by its product, in the same order."""
    dates = ' AND ("FrDt" = 0 OR "FrDt" <= ?) AND ("ToDt" = 0 OR "ToDt" >= ?)' if dated else ""
    latest = ', "FrDt" DESC' if dated else ""
    rest = f' AND "CustNo" IN (0, ?){dates} ORDER BY "CustNo" = ? DESC{latest}, "LnNo" DESC'

    @functools.lru_cache(maxsize=8)
    def statement(products: int) -> str:
        if not products:
            return f'SELECT "SalePr", "SaleDcP" FROM "PrDcMat" WHERE "ProdNo" = ?{rest} LIMIT 1'
        marks = ", ".join("?" * products)
        return f'SELECT "ProdNo", "SalePr", "SaleDcP" FROM "PrDcMat" WHERE "ProdNo" IN ({marks}){rest}'

    return statement


def decimal_of(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value or 0)


def _line_amount(state: RowState) -> None:
    """Amount = quantity x price, less the line's discount, rounded to cents."""
    if not state.has("Am"):
        return
    quantity, price = decimal_of(state.values.get("NoInvoAb")), decimal_of(state.values.get("Price"))
    discount = decimal_of(state.values.get("Dc1P"))
    amount = quantity * price * (1 - discount / 100)
    state.values["Am"] = amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _join_head(state: RowState) -> None:
    """A line written on its own names its order: the order must exist, and the line takes from it."""
    order_no = state.values.get("OrdNo")
    head = state.lookup("Ord", (*_origins(LINE_FROM_HEAD), "CustNo", "OrdDt"), "OrdNo", order_no)
    if head is None:
        name = state.property_name("OrdNo")
        raise InvalidValue(f"No order has {name} {order_no}", target=name)
    state.head = head
    _copy(state, head, LINE_FROM_HEAD)


# (table, column) -> the rules run after that column is assigned, in order.
ASSIGNMENT_RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("Ord", "CustNo"): (_fill_from_associate("customer", "CustNo"),),
    ("Ord", "SupNo"): (_fill_from_associate("supplier", "SupNo"),),
    ("Ord", "Cur"): (_currency,),
    ("OrdLn", "OrdNo"): (_join_head,),
    ("OrdLn", "ProdNo"): (_fill_from_product,),
    ("OrdLn", "NoInvoAb"): (_line_amount,),
    ("OrdLn", "Price"): (_line_amount,),
    ("OrdLn", "Dc1P"): (_line_amount,),
}


def after_assignment(state: RowState, column: str) -> None:
    for rule in ASSIGNMENT_RULES.get((state.table.sql_name, column), ()):
        rule(state)


def on_new_row(state: RowState) -> None:
    """Before a new row's assignments: what Visma fills in by itself."""
    state.set(CREATED_COLUMN, state.today)
    state.set(CREATED_TIME_COLUMN, state.time_of_day[0])
    on_changed_row(state)
    if state.head is not None and LINE_TABLES.get(state.table.sql_name):
        for target, origin in LINE_FROM_HEAD:
            if origin in state.head:
                state.set(target, state.head[origin])


def on_changed_row(state: RowState) -> None:
    state.set(CHANGED_COLUMN, state.today)
    state.set(CHANGED_TIME_COLUMN, state.time_of_day[0])
    state.set(CHANGED_MS_COLUMN, state.time_of_day[1])


def time_of_day(moment: dt.datetime) -> tuple[int, int]:
    """`moment`'s time as Visma stamps it: hhmm, and milliseconds since midnight."""
    return (
        moment.hour * 100 + moment.minute,
        ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000 + moment.microsecond // 1000,
    )


def update_head_totals(
    connection: sqlite3.Connection,
    database: Database,
    head_keys: Iterable[Any],
    stamp: tuple[int, int, int] | None = None,
) -> None:
    """The order heads' totals after their lines changed: the sum of the lines' amounts.

    With `stamp` (day, hhmm, milliseconds), each head is stamped as changed too: its total is part
    of it, and a delta pull must bring the head again when its lines change.
    """
    order, lines = database.table_by_sql_name("Ord"), database.table_by_sql_name("OrdLn")
    total = order.column_by_sql_name("OrdSum") if order is not None else None
    if order is None or total is None or lines is None:
        return
    # Rounded to the column's scale: a sum of binary floats carries noise (375185.98000000004) that
    # the JSON shows rounded, and an If-Match built from that JSON would never match it again.
    scale = total.scale if total.scale is not None else 2
    stamps = ""
    stamp_values: tuple[int, ...] = ()
    if stamp is not None:
        named = zip((CHANGED_COLUMN, CHANGED_TIME_COLUMN, CHANGED_MS_COLUMN), stamp, strict=True)
        present = [(name, value) for name, value in named if order.column_by_sql_name(name) is not None]
        stamps = "".join(f", {quote(name)} = ?" for name, _ in present)
        stamp_values = tuple(value for _, value in present)
    for order_no in head_keys:
        connection.execute(
            'UPDATE "Ord" SET "OrdSum" = (SELECT ROUND(COALESCE(SUM("Am"), 0), ?) FROM "OrdLn" WHERE "OrdNo" = ?)'
            f'{stamps} WHERE "OrdNo" = ?',
            (scale, order_no, *stamp_values, order_no),
        )


def plural_name(table: Table) -> str:
    """`OrderLines` for the `orderlines` resource of `OrderLine`: the English name, plural as the resource is.

    Nested lines go by this name in write bodies and answers.
    """
    if table.resource.startswith(table.name.lower()):
        return table.name + table.resource[len(table.name) :]
    return table.name


def today_number(today: dt.date | None = None) -> int:
    day = today or dt.date.today()
    return day.year * 10000 + day.month * 100 + day.day
