"""How the crawler names a database's tables and columns: each route on a small model, then the whole model.

The small model keeps each case readable: `Order` (SQL `Ord`) knows the SQL names of OrderNo and Name but not of
CustomerNo; `Warehouse` knows no SQL name at all.
"""

from __future__ import annotations

import logging
import time

import pytest

from redhorn.catalog.crawler import CatalogColumn, build_database
from redhorn.catalog.dictionary import Dictionary, load_dictionary
from redhorn.catalog.model import ChangeStamps, Column, ColumnRef, Domain, Model, Relation, Table
from redhorn.metadata import Database, Table as MetadataTable


def column(name: str, no: int, sql: str | None = None, **extra: object) -> Column:
    return Column(name=name, no=no, sql=sql, confidence="V", sql_confidence="L" if sql else None, **extra)  # type: ignore[arg-type]


def table(name: str, number: int, sql: str | None, columns: tuple[Column, ...], **extra: object) -> Table:
    fields: dict[str, object] = {
        "name": name,
        "table_no": number,
        "resource": name.lower() + "s",
        "sql": sql,
        "sql_confidence": "L" if sql else None,
        "confidence": "V",
        "kind": "table",
        "source": "model",
        "key": (columns[0].name,),
        "change_stamps": None,
        "columns": columns,
        "relations": (),
    }
    fields.update(extra)
    return Table(**fields)  # type: ignore[arg-type]


# Its columns are listed out of number order on purpose: the column-order hypothesis sorts by number.
ORDER = table(
    "Order",
    127,
    "Ord",
    (
        column("OrderNo", 2868, "OrdNo"),
        column("CustomerNo", 2874, domain="CustomerNo"),
        column("Name", 2875, "Nm"),
        column("OrderType", 2872, "OrdTp", domain="OrderType"),
        column("OrderDate", 2873, format="yyyymmdd"),
        column("ChangedDate", 2900, "ChDt", format="yyyymmdd"),
        column("ChangedTime", 2901, "ChTm"),
    ),
    relations=(
        Relation(
            name="Customer",
            no=484,
            target="Associate",
            confidence="L",
            columns=(("CustomerNo", "CustomerNo"),),
            columns_confidence="G",
        ),
        Relation(
            name="Warehouse",
            no=490,
            target="Warehouse",
            confidence="L",
            columns=(("WarehouseNo", "WarehouseNo"),),
            columns_confidence="G",
        ),
        Relation(name="Unknown", no=491, target=None, confidence="L"),
    ),
    change_stamps=ChangeStamps(
        changed_date=ColumnRef(name="ChangedDate", sql="ChDt"), changed_time=ColumnRef(name="ChangedTime", sql="ChTm")
    ),
)
ASSOCIATE = table(
    "Associate", 152, "Actor", (column("AssociateNo", 4028, "ActNo"), column("CustomerNo", 4045, "CustNo"))
)
WAREHOUSE = table("Warehouse", 9, None, (column("WarehouseNo", 100), column("Name", 101)))


def small_dictionary() -> Dictionary:
    return Dictionary(
        Model(
            format=2,
            about="test",
            databases={"company": (ORDER, ASSOCIATE, WAREHOUSE)},
            domains={
                "OrderType": Domain(confidence="V", members={"NormalOrder": 1, "Quotation": 2, "Offer": 3}),
                "CustomerNo": Domain(confidence="V", data_type="Integer"),
            },
        )
    )


def catalog(tables: dict[str, list[str]], types: dict[str, str] | None = None) -> list[CatalogColumn]:
    """Catalog rows for SQL tables given as column lists in ordinal order; every column an int unless typed."""
    rows = []
    for name, columns in tables.items():
        for i, sql in enumerate(columns):
            kind = (types or {}).get(sql, "int")
            rows.append(CatalogColumn(name, False, sql, kind, None, None, None, False, 1 if i == 0 else 0))
    return rows


def crawled(tables: dict[str, list[str]], types: dict[str, str] | None = None) -> Database:
    return build_database("F1", "company", catalog(tables, types), small_dictionary())


def found(database: Database, resource: str) -> MetadataTable:
    result = database.table(resource)
    assert result is not None, resource
    return result


def names(table: MetadataTable) -> list[str]:
    return [c.name for c in table.columns]


# Column-number order of Order: OrderNo 2868, OrderType 2872, OrderDate 2873, CustomerNo 2874, Name 2875, ChDt, ChTm.
IN_NUMBER_ORDER = ["OrdNo", "OrdTp", "X2873", "X2874", "Nm", "ChDt", "ChTm"]


def test_route_dictionary_every_sql_name_known() -> None:
    order = found(crawled({"Ord": ["OrdNo", "Nm", "OrdTp", "ChDt", "ChTm"]}), "orders")
    assert (order.name, order.number, order.named_by, order.known) == ("Order", 127, "dictionary", True)
    assert names(order) == ["OrderNo", "Name", "OrderType", "ChangedDate", "ChangedTime"]
    assert [c.number for c in order.columns] == [2868, 2875, 2872, 2900, 2901]


def test_route_column_order_adopted() -> None:
    order = found(crawled({"Ord": IN_NUMBER_ORDER}), "orders")
    assert order.named_by == "column-order"
    assert names(order) == ["OrderNo", "OrderType", "OrderDate", "CustomerNo", "Name", "ChangedDate", "ChangedTime"]
    customer = order.column("CustomerNo")
    assert customer is not None and (customer.sql_name, customer.number, customer.known) == ("X2874", 2874, True)


def test_route_column_order_refused_when_a_known_pair_disagrees() -> None:
    # Same count, but Nm (known: Name, 2875) sits where 2874 belongs.
    disagreeing = ["OrdNo", "OrdTp", "X2873", "Nm", "X2874", "ChDt", "ChTm"]
    order = found(crawled({"Ord": disagreeing}), "orders")
    assert order.named_by == "dictionary"
    assert names(order) == ["OrderNo", "OrderType", "X2873", "Name", "X2874", "ChangedDate", "ChangedTime"]
    assert [c.known for c in order.columns] == [True, True, False, True, False, True, True]


def test_route_column_order_refused_when_the_counts_differ() -> None:
    # One column more than the dictionary has; CustomerNo is still found by its identifier (the stand-in).
    order = found(crawled({"Ord": [*IN_NUMBER_ORDER[:3], "CustomerNo", "Nm", "ChDt", "ChTm", "Extra"]}), "orders")
    assert order.named_by == "dictionary"
    assert names(order) == [
        "OrderNo",
        "OrderType",
        "X2873",
        "CustomerNo",
        "Name",
        "ChangedDate",
        "ChangedTime",
        "Extra",
    ]
    assert order.column("CustomerNo").number == 2874  # type: ignore[union-attr]
    assert order.column("Extra").known is False  # type: ignore[union-attr]


def test_route_stand_in_table_and_columns() -> None:
    # The demo's convention: unknown SQL names are the identifiers; here with a column the dictionary lacks.
    warehouse = found(crawled({"Warehouse": ["WarehouseNo", "Name", "Extra"]}), "warehouses")
    assert (warehouse.name, warehouse.number, warehouse.named_by) == ("Warehouse", 9, "stand-in")
    assert [(c.name, c.number) for c in warehouse.columns] == [("WarehouseNo", 100), ("Name", 101), ("Extra", None)]


def test_route_sql_for_an_unknown_table() -> None:
    database = crawled({"ACME_Route": ["RouteNo", "Nm"]})
    route = found(database, "acme_route")
    assert (route.name, route.named_by, route.known, route.number) == ("ACME_Route", "sql", False, None)
    assert names(route) == ["RouteNo", "Nm"]


def test_a_known_sql_name_wins_over_a_stand_in() -> None:
    """A table named like an identifier is not that table when another SQL table has the table's known name."""
    database = crawled({"Ord": ["OrdNo"], "Order": ["OrderNo"]})
    assert found(database, "orders").sql_name == "Ord"
    assert found(database, "order").named_by == "sql"


def test_relations_change_stamps_and_value_domains() -> None:
    database = crawled({"Ord": IN_NUMBER_ORDER, "Actor": ["ActNo", "CustNo"]})
    order = found(database, "orders")
    relations = {r.name: r for r in order.relations}
    assert relations["Customer"].target == "Associate"
    assert relations["Customer"].columns == (("CustomerNo", "CustomerNo"),)
    assert (relations["Customer"].number, relations["Customer"].confidence) == (484, "G")
    # The target is not in this database: the relation stays, without pairs.
    assert relations["Warehouse"].columns == ()
    assert relations["Unknown"].target is None
    assert order.change_stamps is not None
    assert (order.change_stamps.changed_date, order.change_stamps.changed_time) == ("ChangedDate", "ChangedTime")
    assert order.change_stamps.created_date is None
    order_type = order.column("OrderType")
    assert order_type is not None and order_type.value_domain == "OrderType"
    assert order_type.values == (("NormalOrder", 1), ("Quotation", 2), ("Offer", 3))
    customer = order.column("CustomerNo")
    assert customer is not None and (customer.value_domain, customer.values) == ("CustomerNo", ())
    order_date = order.column("OrderDate")
    assert order_date is not None and order_date.domain == "date"


def test_value_formats_and_lists_apply_to_integer_columns_only() -> None:
    order = found(crawled({"Ord": IN_NUMBER_ORDER}, {"OrdTp": "varchar", "X2873": "datetime"}), "orders")
    assert order.column("OrderType").values == ()  # type: ignore[union-attr]
    assert order.column("OrderDate").domain is None  # type: ignore[union-attr]


def test_change_stamps_need_the_changed_date_and_time() -> None:
    order = found(crawled({"Ord": ["OrdNo", "Nm", "ChDt"]}), "orders")
    assert order.change_stamps is None


def test_the_key_comes_from_the_dictionary_where_the_catalog_has_none() -> None:
    rows = [CatalogColumn("Warehouse", False, c, "int", None, None, None, False, 0) for c in ("Name", "WarehouseNo")]
    warehouse = found(build_database("F1", "company", rows, small_dictionary()), "warehouses")
    assert [c.name for c in warehouse.key] == ["WarehouseNo"]


def test_the_crawl_log_says_how_each_table_was_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="redhorn.crawler"):
        crawled({"Ord": IN_NUMBER_ORDER, "Warehouse": ["WarehouseNo", "Name", "Extra"], "ACME_Route": ["RouteNo"]})
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(debug) == 3
    assert any("table Ord is Order (orders), named by column-order" in line for line in debug)
    assert any("table Warehouse is Warehouse (warehouses), named by stand-in" in line for line in debug)
    assert any("table ACME_Route is ACME_Route (acme_route), named by sql" in line for line in debug)
    assert info == [
        "F1: 3 tables named by dictionary 0, column-order 1, stand-in 1, sql 1; "
        "their columns by dictionary 5, column-order 2, stand-in 2, sql 2"
    ]


# -- the whole model ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary()


def model_catalog(dictionary: Dictionary) -> list[CatalogColumn]:
    """A synthetic company catalog built from the model: every table, every stored column in number order, under
    its SQL name where known and its identifier otherwise (the demo's convention); the key is the model's."""
    rows: list[CatalogColumn] = []
    for entry in dictionary.entries("company"):
        described = entry.table
        if described.kind == "view":
            continue
        numbered = list(entry.numbered)
        rest = [c for c in described.columns if c not in numbered and c.stored and (c.sql or c.name)]
        for c in numbered + rest:
            sql = c.sql or c.name or ""
            ordinal = described.key.index(c.name) + 1 if c.name in described.key else 0
            rows.append(
                CatalogColumn(described.sql or described.name, False, sql, "int", None, None, None, False, ordinal)
            )
    return rows


def test_sample_facts_through_the_runtime_dictionary(dictionary: Dictionary) -> None:
    associate = dictionary.entry_by_sql("company", "Actor")
    assert associate is not None and (associate.table.name, associate.table.table_no) == ("Associate", 152)
    assert associate.by_name["customerno"].no == 4045
    order = dictionary.entry_by_name("company", "Order")
    assert order is not None and order.by_name["orderno"].no == 2868 and order.table.sql == "Ord"
    line = dictionary.entry_by_name("company", "OrderLine")
    assert line is not None and line.by_name["productno"].no == 2959
    assert len([e for e in dictionary.entries("company") if e.table.source != "curated"]) == 320


def test_the_whole_model_names_a_synthetic_installation_fast(dictionary: Dictionary) -> None:
    rows = model_catalog(dictionary)
    database = build_database("F1", "company", rows, dictionary)  # warm
    best = min(_timed(lambda: build_database("F1", "company", rows, dictionary)) for _ in range(3))
    assert len(database.tables) == 320
    assert {t.named_by for t in database.tables} == {"column-order"}
    assert best < 1.0, f"merging 320 tables took {best:.3f} s"
    associate = found(database, "associates")
    assert (associate.number, associate.column("CustomerNo").number) == (152, 4045)  # type: ignore[union-attr]
    assert found(database, "orders").column("OrderNo").number == 2868  # type: ignore[union-attr]
    assert found(database, "orderlines").column("ProductNo").number == 2959  # type: ignore[union-attr]
    order = found(database, "orders")
    assert [c.name for c in order.key] == ["OrderNo"]
    # a curated column the model lacks (no number) is set aside from the pairing, yet named by its SQL name
    assert order.column("OrderSumInCurrency").sql_name == "OrdSum"  # type: ignore[union-attr]
    assert order.change_stamps is not None and order.change_stamps.changed_time_ms == "ChangeTimeInMs"
    relations = {r.name: r for r in found(database, "orderlines").relations}
    assert relations["Product"].columns == (("ProductNo", "ProductNo"),)
    assert relations["Order"].target == "Order"
    transaction_type = order.column("TransactionType")
    assert transaction_type is not None and ("Sales", 1) in transaction_type.values
    assert sum(t.change_stamps is not None for t in database.tables) == 316


def _timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started
