"""Planning reads from typed values: by key, by key prefix (a write's read-back), and `$count`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from redhorn.errors import InvalidKey, InvalidQuery
from redhorn.metadata import Column, Table
from redhorn.odata.ast import BoolOp, Compare, Literal, Property
from redhorn.odata.parser import DEFAULT_LIMITS, parse_query_options
from redhorn.query.plan import parse_key, plan_count, plan_key, plan_key_prefix
from redhorn.sql.select import CountQuery, OrderColumn

ORDER_NO = Column("OrdNo", "OrderNo", "integer", "int")
LINE_NO = Column("LnNo", "LineNo", "integer", "int")
PRICE = Column("Pr", "Price", "decimal", "decimal(28,6)", precision=28, scale=6)
CODE = Column("Cd", "Code", "string", "varchar(4)", max_length=4)
LINES = Table("OrdLn", "OrderLine", "orderlines", (ORDER_NO, LINE_NO, PRICE), (ORDER_NO, LINE_NO))
CODES = Table("Cds", "Code", "codes", (CODE, PRICE), (CODE, PRICE))
VIEW = Table("V", "View", "views", (CODE,), (), is_view=True)


def test_key_segments_become_typed_values():
    assert parse_key(LINES, ["1001", "-2"]) == (1001, -2)
    assert parse_key(CODES, ["AB/C", "1.50"]) == ("AB/C", Decimal("1.50"))


@pytest.mark.parametrize(
    ("table", "segments"),
    [
        (LINES, ["1001"]),
        (LINES, ["1001", "2", "3"]),
        (LINES, ["1001", "two"]),
        (LINES, ["1001", "²"]),
        (LINES, ["99999999999999999999", "1"]),
        (LINES, ["9223372036854775808", "1"]),
        (CODES, ["ABCDE", "1"]),
        (CODES, ["AB", "x"]),
        (VIEW, ["A"]),
    ],
)
def test_a_key_that_does_not_fit_is_refused(table, segments):
    with pytest.raises(InvalidKey):
        parse_key(table, segments)


def test_a_row_by_key_is_planned_from_typed_values_without_text():
    query = plan_key(LINES, (1001, 2), ("Price",))
    assert query.key_values == (1001, 2) and query.output == (PRICE,) and query.limit == 1
    assert plan_key(LINES, (1001, 2), None, json_rows=True).json_rows


def test_rows_by_key_prefix_are_the_bound_tree_a_filter_would_give_in_key_order():
    query = plan_key_prefix(LINES, {"OrderNo": 1001}, limit=51)
    assert query.where == Compare("eq", Property("OrderNo"), Literal(1001))
    assert query.order == (OrderColumn(ORDER_NO), OrderColumn(LINE_NO)) and query.limit == 51
    both = plan_key_prefix(LINES, {"OrderNo": 1001, "LineNo": 2}, limit=2)
    assert both.where == BoolOp(
        "and", Compare("eq", Property("OrderNo"), Literal(1001)), Compare("eq", Property("LineNo"), Literal(2))
    )


def test_count_is_planned_with_the_bound_filter():
    options = parse_query_options([("$filter", "orderno gt 5")], DEFAULT_LIMITS)
    assert plan_count(LINES, options) == CountQuery(LINES, Compare("gt", Property("OrderNo"), Literal(5, 11), 8))
    assert plan_count(LINES, parse_query_options([], DEFAULT_LIMITS)) == CountQuery(LINES, None)
    with pytest.raises(InvalidQuery):
        plan_count(LINES, parse_query_options([("$filter", "Nope eq 1")], DEFAULT_LIMITS))
