"""`$expand` parsing and the navigation properties read from the dictionary's relations."""

from __future__ import annotations

import pytest

from redhorn.errors import ODataError
from redhorn.metadata import Column, Database, Relation, Table
from redhorn.odata.ast import Compare, Literal, Property
from redhorn.odata.expand import ExpandItem, navigation, navigations, parse_expand
from redhorn.odata.parser import OrderItem, parse_query_options

ORDER_NO = Column("OrdNo", "OrderNo", "integer", "int")
CUST_NO = Column("CustNo", "CustomerNo", "integer", "int")
SUPP_NO = Column("SupNo", "SupplierNo", "integer", "int")
UNIT = Column("U1", "OrgUnit1", "integer", "int")
LINE_NO = Column("LnNo", "LineNo", "integer", "int")
ASSOC_NO = Column("AsNo", "AssociateNo", "integer", "int")
ORDERS = Table(
    "Ord",
    "Order",
    "orders",
    (ORDER_NO, CUST_NO, SUPP_NO, UNIT),
    (ORDER_NO,),
    relations=(
        Relation("Customer", "Associate", (("CustomerNo", "CustomerNo"),)),
        Relation("Supplier", "Associate", (("SupplierNo", "SupplierNo"),)),
        Relation("OrgUnit1", "Associate", (("OrgUnit1", "AssociateNo"),)),
        Relation("Unknown", "Associate", ()),
        Relation("Gone", "NotCrawled", (("CustomerNo", "X"),)),
    ),
)
LINES = Table(
    "OrdLn",
    "OrderLine",
    "orderlines",
    (ORDER_NO, LINE_NO),
    (ORDER_NO, LINE_NO),
    relations=(Relation("Order", "Order", (("OrderNo", "OrderNo"),)),),
)
ASSOCIATES = Table("Actor", "Associate", "associates", (ASSOC_NO, CUST_NO, SUPP_NO), (ASSOC_NO,))
DATABASE = Database("F1", (ORDERS, LINES, ASSOCIATES))


def names(table: Table) -> dict[str, tuple[str, bool]]:
    return {n.name: (n.target, n.many) for n in navigations(DATABASE, table)}


def test_navigations_forward_reverse_and_clashes():
    assert names(ORDERS) == {
        "Customer": ("Associate", False),
        "Supplier": ("Associate", False),
        "OrgUnit1Nav": ("Associate", False),  # `OrgUnit1` is a column of Order: suffixed
        "OrderLines": ("OrderLine", True),
    }
    assert names(LINES) == {"Order": ("Order", False)}
    assert names(ASSOCIATES) == {
        "Orders": ("Order", True),  # the first relation (Customer) gets the plain plural
        "OrdersAsSupplier": ("Order", True),
        "OrdersAsOrgUnit1": ("Order", True),
    }
    lines = navigation(DATABASE, ORDERS, "orderlines")
    assert lines is not None
    assert (lines.source_columns, lines.target_columns) == (("OrderNo",), ("OrderNo",))


def test_parse_nested_options():
    items = parse_expand(
        "OrderLines($select=LineNo,Price;$filter=Price gt 5;$orderby=LineNo desc;$top=3;"
        "$expand=Product($select=Name)), Customer",
        max_depth=2,
    )
    assert items == (
        ExpandItem(
            "OrderLines",
            select=("LineNo", "Price"),
            filter=Compare("gt", Property("Price", 0), Literal(5, 9), 6),
            order_by=(OrderItem("LineNo", True, 0),),
            top=3,
            expand=(ExpandItem("Product", select=("Name",)),),
        ),
        ExpandItem("Customer"),
    )
    assert parse_expand("Order()", max_depth=1) == (ExpandItem("Order"),)
    assert parse_expand("A($filter=contains(Name,'a;b)'))", max_depth=1)[0].filter is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("A($expand=B($expand=C))", "deeper than 2", id="depth"),
        pytest.param("", "Expected a navigation", id="empty"),
        pytest.param("A,", "Expected a navigation", id="trailing-comma"),
        pytest.param("A,A", "twice", id="repeated"),
        pytest.param("A(", "Expected", id="open"),
        pytest.param("A($top=1", "Missing ')'", id="unclosed"),
        pytest.param("A($skip=1)", "not supported", id="skip"),
        pytest.param("A($levels=2)", "not supported", id="levels"),
        pytest.param("*", "Expected a navigation", id="star"),
        pytest.param("A/B", "not supported", id="path"),
        pytest.param("A($top=-1)", "$top", id="top"),
        pytest.param("A($filter=Price gt)", "$filter", id="filter"),
        pytest.param("A($select=1x)", "$select", id="select"),
        pytest.param("A($orderby=B sideways)", "$orderby", id="orderby"),
        pytest.param("A)B", "Unexpected", id="garbage"),
    ],
)
def test_bad_expand_is_an_error_naming_expand(text: str, message: str):
    with pytest.raises(ODataError) as caught:
        parse_expand(text, max_depth=2)
    assert caught.value.target == "$expand"
    assert message in caught.value.message


def test_expand_is_a_known_option_kept_as_text():
    assert parse_query_options([("$expand", "OrderLines($top=1)")]).expand_text == "OrderLines($top=1)"
