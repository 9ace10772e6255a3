"""The business rules the embedded writer runs after each assignment, on databases that have only
some of the tables and columns Visma's have: a rule fills in what both sides have, refuses a
reference to a row that does not exist, and says in a message what it filled in."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from redhorn.errors import InvalidValue
from redhorn.metadata import Column, Database, Table
from redhorn.writers.lookups import Lookups
from redhorn.writers.model import Message
from redhorn.writers.rules import (
    RowState,
    after_assignment,
    on_changed_row,
    on_new_row,
    plural_name,
    today_number,
    update_head_totals,
)

TODAY = 20240611
# SQL name -> (property name, kind): every column the tests' tables use.
PROPERTIES = {
    "OrdNo": ("OrderNo", "integer"),
    "LnNo": ("LineNo", "integer"),
    "CustNo": ("CustomerNo", "integer"),
    "SupNo": ("SupplierNo", "integer"),
    "Nm": ("Name", "string"),
    "Ad1": ("AddressLine1", "string"),
    "Cur": ("Currency", "integer"),
    "CurNo": ("CurrencyNo", "integer"),
    "ExRt": ("ExchangeRate", "decimal"),
    "ProdNo": ("ProductNo", "string"),
    "Descr": ("Description", "string"),
    "StSaleUn": ("StandardSaleUnit", "integer"),
    "Un": ("Unit", "integer"),
    "NoInvoAb": ("Quantity", "decimal"),
    "Price": ("Price", "decimal"),
    "Dc1P": ("DiscountPercent", "decimal"),
    "Am": ("Amount", "decimal"),
    "OrdSum": ("OrderSum", "decimal"),
    "TrTp": ("TransactionType", "integer"),
    "DelDt": ("DeliveryDate", "integer"),
    "SalePr": ("SalePrice", "decimal"),
    "SaleDcP": ("SaleDiscountPercent", "decimal"),
    "FrDt": ("FromDate", "integer"),
    "ToDt": ("ToDate", "integer"),
    "CreDt": ("CreatedDate", "integer"),
    "ChDt": ("ChangedDate", "integer"),
}


def table(sql_name: str, name: str, resource: str, columns: str, key: int = 1) -> Table:
    made = tuple(Column(c, PROPERTIES[c][0], PROPERTIES[c][1], "int") for c in columns.split())  # type: ignore[arg-type]
    return Table(sql_name, name, resource, made, made[:key])


class World:
    """An in-memory company database and its metadata, made of the tables a test names."""

    def __init__(self, connection: sqlite3.Connection, *tables: Table) -> None:
        self.connection = connection
        self.database = Database("F0042", tables)
        for made in tables:
            names = ", ".join(f'"{column.sql_name}"' for column in made.columns)
            connection.execute(f'CREATE TABLE "{made.sql_name}" ({names})')

    def insert(self, table: str, **values: Any) -> None:
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.connection.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuple(values.values()))

    def state(self, table: str, head: dict[str, Any] | None = None, **values: Any) -> RowState:
        made = self.database.table_by_sql_name(table)
        assert made is not None
        row = {column.sql_name: values.get(column.sql_name, 0) for column in made.columns}
        return RowState(self.connection, self.database, made, row, TODAY, head=head)


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(":memory:")
    yield opened
    opened.close()


ORDERS = table("Ord", "Order", "orders", "OrdNo CustNo SupNo Nm Cur ExRt")
ASSOCIATES = table("Actor", "Associate", "associates", "CustNo SupNo Nm Ad1 Cur")
CURRENCIES = table("Cur", "Currency", "currencies", "CurNo ExRt")


def test_an_order_takes_what_both_it_and_the_customer_have_and_the_currencys_rate(connection):
    world = World(connection, ORDERS, ASSOCIATES, CURRENCIES)
    world.insert("Actor", CustNo=5, Nm="Acme", Ad1="1 Main Street", Cur=47)
    world.insert("Cur", CurNo=47, ExRt=9.5)
    state = world.state("Ord", OrdNo=1, CustNo=5)
    after_assignment(state, "CustNo")
    assert state.values == {"OrdNo": 1, "CustNo": 5, "SupNo": 0, "Nm": "Acme", "Cur": 47, "ExRt": 9.5}
    assert state.messages == [Message("info", "Name, Currency, ExchangeRate filled in from customer 5")]


def test_a_supplier_fills_an_order_as_a_customer_does(connection):
    world = World(connection, ORDERS, ASSOCIATES)
    world.insert("Actor", SupNo=8, Nm="Parts Ltd", Cur=0)
    state = world.state("Ord", OrdNo=1, SupNo=8)
    after_assignment(state, "SupNo")
    assert state.values["Nm"] == "Parts Ltd"
    assert state.messages == [Message("info", "Name, Currency filled in from supplier 8")]


def test_a_customer_that_does_not_exist_is_refused_naming_the_property(connection):
    world = World(connection, ORDERS, ASSOCIATES)
    state = world.state("Ord", OrdNo=1, CustNo=77)
    with pytest.raises(InvalidValue, match="No associate has CustomerNo 77") as raised:
        after_assignment(state, "CustNo")
    assert raised.value.target == "CustomerNo"


def test_a_database_without_associates_knows_no_customer(connection):
    world = World(connection, ORDERS)
    with pytest.raises(InvalidValue, match="No associate has CustomerNo 5"):
        after_assignment(world.state("Ord", OrdNo=1, CustNo=5), "CustNo")


def test_customer_zero_is_visma_not_set_and_fills_nothing(connection):
    world = World(connection, ORDERS, ASSOCIATES)
    state = world.state("Ord", OrdNo=1, CustNo=0, Nm="kept")
    after_assignment(state, "CustNo")
    assert state.values["Nm"] == "kept" and state.messages == []


def test_a_customer_with_nothing_the_order_has_fills_nothing_and_says_nothing(connection):
    world = World(connection, table("Ord", "Order", "orders", "OrdNo CustNo"), ASSOCIATES, CURRENCIES)
    world.insert("Actor", CustNo=5, Nm="Acme", Cur=47)
    world.insert("Cur", CurNo=47, ExRt=9.5)
    state = world.state("Ord", OrdNo=1, CustNo=5)
    after_assignment(state, "CustNo")
    assert state.values == {"OrdNo": 1, "CustNo": 5}
    assert state.messages == []


def test_setting_the_currency_takes_its_rate_and_an_unknown_currency_keeps_the_old_one(connection):
    world = World(connection, ORDERS, CURRENCIES)
    world.insert("Cur", CurNo=47, ExRt=9.5)
    state = world.state("Ord", OrdNo=1, Cur=47, ExRt=1)
    after_assignment(state, "Cur")
    assert state.values["ExRt"] == 9.5
    state.values["Cur"] = 99
    after_assignment(state, "Cur")
    assert state.values["ExRt"] == 9.5
    assert state.messages == [], "a currency change alone says nothing"


LINES = table("OrdLn", "OrderLine", "orderlines", "OrdNo LnNo ProdNo Descr Un NoInvoAb Price Dc1P Am", key=2)
PRODUCTS = table("Prod", "Product", "products", "ProdNo Descr StSaleUn")


def test_a_line_takes_its_products_description_and_unit_without_a_price_list(connection):
    world = World(connection, LINES, PRODUCTS)
    world.insert("Prod", ProdNo="P1", Descr="Widget", StSaleUn=3)
    state = world.state("OrdLn", OrdNo=1, LnNo=1, ProdNo="P1", NoInvoAb=2, Price=Decimal("5"))
    after_assignment(state, "ProdNo")
    assert state.values["Descr"] == "Widget" and state.values["Un"] == 3
    assert state.values["Price"] == Decimal("5"), "no price list: the price is left as it was"
    assert state.values["Am"] == Decimal("10.00")
    assert state.messages == [Message("info", "Description, Unit filled in from product P1")]


def test_a_product_with_nothing_the_line_has_fills_nothing_but_the_amount(connection):
    world = World(
        connection, table("OrdLn", "OrderLine", "orderlines", "OrdNo LnNo ProdNo NoInvoAb Price Am", 2), PRODUCTS
    )
    world.insert("Prod", ProdNo="P1", Descr="Widget", StSaleUn=3)
    state = world.state("OrdLn", OrdNo=1, LnNo=1, ProdNo="P1", NoInvoAb=Decimal("3"), Price=Decimal("1.005"))
    after_assignment(state, "ProdNo")
    assert state.messages == []
    assert state.values["Am"] == Decimal("3.02"), "3 x 1.005 = 3.015, rounded half up to cents"


def test_a_price_list_without_a_discount_column_is_no_price_list(connection):
    matrix = Table("PrDcMat", "PriceMatrix", "prices", (Column("ProdNo", "ProductNo", "string", "int"),), ())
    world = World(connection, LINES, PRODUCTS, matrix)
    world.insert("Prod", ProdNo="P1", Descr="Widget", StSaleUn=3)
    state = world.state("OrdLn", OrdNo=1, LnNo=1, ProdNo="P1", Price=Decimal("7"))
    after_assignment(state, "ProdNo")
    assert state.values["Price"] == Decimal("7")


def test_an_empty_product_number_fills_nothing_and_an_unknown_one_is_refused(connection):
    world = World(connection, LINES, PRODUCTS)
    state = world.state("OrdLn", OrdNo=1, LnNo=1, ProdNo="", Descr="kept")
    after_assignment(state, "ProdNo")
    assert state.values["Descr"] == "kept" and state.messages == []
    state.values["ProdNo"] = "NOPE"
    with pytest.raises(InvalidValue, match="No product has ProductNo 'NOPE'") as raised:
        after_assignment(state, "ProdNo")
    assert raised.value.target == "ProductNo"


def test_a_line_without_an_amount_column_takes_quantity_and_price_as_they_are(connection):
    world = World(connection, table("OrdLn", "OrderLine", "orderlines", "OrdNo LnNo NoInvoAb Price", 2))
    state = world.state("OrdLn", OrdNo=1, LnNo=1, NoInvoAb=Decimal("2"), Price=Decimal("3"))
    after_assignment(state, "NoInvoAb")
    after_assignment(state, "Price")
    assert state.values == {"OrdNo": 1, "LnNo": 1, "NoInvoAb": Decimal("2"), "Price": Decimal("3")}


def test_a_new_line_takes_from_its_head_only_what_the_head_has(connection):
    lines = table("OrdLn", "OrderLine", "orderlines", "OrdNo LnNo TrTp Cur DelDt CreDt ChDt", key=2)
    world = World(connection, lines)
    state = world.state("OrdLn", head={"TrTp": 6, "DelDt": 20240701}, OrdNo=1, LnNo=1, Cur=47)
    on_new_row(state)
    assert state.values == {
        "OrdNo": 1,
        "LnNo": 1,
        "TrTp": 6,
        "Cur": 47,
        "DelDt": 20240701,
        "CreDt": TODAY,
        "ChDt": TODAY,
    }
    changed = world.state("OrdLn", OrdNo=1, LnNo=1, CreDt=20200101, ChDt=20200101)
    on_changed_row(changed)
    assert (changed.values["CreDt"], changed.values["ChDt"]) == (20200101, TODAY)


def test_a_new_row_of_a_table_without_stamps_is_left_as_given(connection):
    world = World(connection, ORDERS)
    state = world.state("Ord", head={"TrTp": 6}, OrdNo=1)
    on_new_row(state)
    assert state.values == {"OrdNo": 1, "CustNo": 0, "SupNo": 0, "Nm": 0, "Cur": 0, "ExRt": 0}


def test_head_totals_are_the_rounded_sum_of_their_lines(connection):
    orders = table("Ord", "Order", "orders", "OrdNo OrdSum")
    world = World(connection, orders, table("OrdLn", "OrderLine", "orderlines", "OrdNo LnNo Am", key=2))
    world.insert("Ord", OrdNo=1, OrdSum=0)
    world.insert("Ord", OrdNo=2, OrdSum=5)
    world.insert("OrdLn", OrdNo=1, LnNo=1, Am=0.1)
    world.insert("OrdLn", OrdNo=1, LnNo=2, Am=0.2)
    update_head_totals(connection, world.database, [1, 2])
    assert connection.execute('SELECT "OrdNo", "OrdSum" FROM "Ord" ORDER BY 1').fetchall() == [(1, 0.3), (2, 0)]


def test_head_totals_need_a_sum_column_and_a_line_table(connection):
    world = World(connection, table("Ord", "Order", "orders", "OrdNo Nm"), table("OrdLn", "OrderLine", "l", "OrdNo Am"))
    world.insert("Ord", OrdNo=1, Nm="untouched")
    update_head_totals(connection, world.database, [1])
    assert connection.execute('SELECT "Nm" FROM "Ord"').fetchall() == [("untouched",)]

    without_lines = sqlite3.connect(":memory:")
    only_orders = World(without_lines, table("Ord", "Order", "orders", "OrdNo OrdSum"))
    only_orders.insert("Ord", OrdNo=1, OrdSum=5)
    update_head_totals(without_lines, only_orders.database, [1])
    assert without_lines.execute('SELECT "OrdSum" FROM "Ord"').fetchall() == [(5,)], "no lines: no total to take"
    without_lines.close()


@pytest.mark.parametrize(
    ("name", "resource", "plural"),
    [
        ("OrderLine", "orderlines", "OrderLines"),
        ("Order", "orders", "Orders"),
        ("Associate", "customers", "Associate"),
    ],
)
def test_nested_rows_go_by_the_english_name_made_plural_as_the_resource_is(name: str, resource: str, plural: str):
    assert plural_name(Table("X", name, resource, (), ())) == plural


def test_today_is_a_visma_date_number():
    assert today_number(dt.date(2024, 2, 29)) == 20240229
    assert 20000101 < today_number() < 21000101


MATRIX = table("PrDcMat", "PriceMatrix", "prices", "LnNo ProdNo CustNo SalePr SaleDcP FrDt ToDt")
HEAD = {"CustNo": 5, "OrdDt": 20240611}


def priced(connection: sqlite3.Connection) -> World:
    """Products with list prices, a customer's own prices (one expired, one superseded), and one without a price."""
    world = World(connection, LINES, PRODUCTS, MATRIX)
    for number in range(1, 13):
        world.insert("Prod", ProdNo=f"P{number}", Descr=f"Product {number}", StSaleUn=number % 3)
        world.insert(
            "PrDcMat", LnNo=number, ProdNo=f"P{number}", CustNo=0, SalePr=10 + number, SaleDcP=0, FrDt=0, ToDt=0
        )
    world.insert("Prod", ProdNo="FREE", Descr="No price", StSaleUn=1)
    world.insert("PrDcMat", LnNo=20, ProdNo="P1", CustNo=5, SalePr=8, SaleDcP=10, FrDt=20240101, ToDt=0)
    world.insert("PrDcMat", LnNo=21, ProdNo="P1", CustNo=5, SalePr=7, SaleDcP=5, FrDt=20240601, ToDt=20241231)
    world.insert("PrDcMat", LnNo=22, ProdNo="P2", CustNo=5, SalePr=1, SaleDcP=0, FrDt=20230101, ToDt=20231231)
    world.insert("PrDcMat", LnNo=23, ProdNo="P3", CustNo=6, SalePr=2, SaleDcP=0, FrDt=0, ToDt=0)
    return world


def written_lines(world: World, products: list[str], lookups: Lookups | None) -> list[tuple[Any, ...]]:
    """Each line's values and messages after its product is assigned, or the refusal that stopped them."""
    if lookups is not None:
        lookups.want("Prod", "ProdNo", products)
        lookups.want("PrDcMat", "ProdNo", products)
    made: list[tuple[Any, ...]] = []
    for number, product in enumerate(products, start=1):
        state = world.state("OrdLn", head=HEAD, OrdNo=1, LnNo=number, NoInvoAb=Decimal(number))
        state.lookups = lookups
        state.values["ProdNo"] = product
        try:
            after_assignment(state, "ProdNo")
        except InvalidValue as refused:
            made.append(("refused", str(refused), refused.code, refused.target))
            break
        made.append((state.values, state.messages))
    return made


def statements(connection: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    connection.set_trace_callback(seen.append)
    return seen


def test_lines_read_in_batches_get_what_lines_read_one_by_one_get(connection):
    world = priced(connection)
    products = ["P1", "P2", "P1", "FREE", "P3", "P2", "P1"]
    one_by_one = written_lines(world, products, None)
    seen = statements(connection)
    batched = written_lines(world, products, Lookups(connection))
    assert batched == one_by_one
    assert [values["Price"] for values, _ in batched[:3]] == [7, 12, 7], "the customer's latest price, else the list's"
    assert len(seen) == 2, "one statement for the products, one for their prices"


def test_a_missing_product_in_the_middle_is_refused_as_one_by_one_refuses_it(connection):
    world = priced(connection)
    products = ["P1", "P2", "NOPE", "P4"]
    batched = written_lines(world, products, Lookups(connection))
    assert batched == written_lines(world, products, None)
    assert batched[2] == ("refused", "No product has ProductNo 'NOPE'", "InvalidValue", "ProductNo")
    assert len(batched) == 3, "the lines before it were filled in; none after"


def test_more_products_than_one_batch_holds_are_read_in_several(connection):
    world = priced(connection)
    products = [f"P{number}" for number in range(1, 13)] + ["FREE", "P1"]
    one_by_one = written_lines(world, products, None)
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 8)  # prices bind 4 of their own: 4 products a statement
    seen = statements(connection)
    assert written_lines(world, products, Lookups(connection)) == one_by_one
    assert (sum("Prod" in s and "PrDcMat" not in s for s in seen), sum("PrDcMat" in s for s in seen)) == (2, 4)
