from __future__ import annotations

from decimal import Decimal

import pytest

from redhorn.errors import ODataError
from redhorn.odata.ast import BoolOp, Call, Compare, In, Literal, Not, Property
from redhorn.odata.parser import OrderItem, QueryLimits, parse_filter, parse_order_by, parse_query_options, parse_select


def test_options_are_case_insensitive_and_custom_options_ignored():
    options = parse_query_options(
        [("$orderBy", "Name desc, OrderNo"), ("$TOP", "5"), ("$Skip", "10"), ("$count", "TRUE"), ("x", "1")]
    )
    assert options.order_by == (OrderItem("Name", True, 0), OrderItem("OrderNo", False, 11))
    assert (options.top, options.skip, options.count) == (5, 10, True)
    assert options.order_by_text == "Name desc, OrderNo"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        pytest.param([("$top", "-1")], "non-negative integer", id="negative-top"),
        pytest.param([("$top", "abc")], "non-negative integer", id="text-top"),
        pytest.param([("$top", "1e3")], "non-negative integer", id="exponent-top"),
        pytest.param([("$top", "99999999999999999999999")], "at most", id="huge-top"),
        pytest.param([("$skip", "-5")], "non-negative integer", id="negative-skip"),
        pytest.param([("$skip", "2147483648")], "at most", id="huge-skip"),
        pytest.param([("$count", "yes")], "'true' or 'false'", id="count-not-bool"),
        pytest.param([("$foo", "1")], "Unknown query option '$foo'", id="unknown-option"),
        pytest.param([("$search", "blue")], "not supported", id="search"),
        pytest.param([("$top", "1"), ("$TOP", "2")], "more than once", id="repeated"),
        pytest.param([("$format", "xml")], "Unsupported $format", id="format"),
        pytest.param([("$orderby", "Name sideways")], "Unknown sort direction", id="direction"),
        pytest.param([("$orderby", "Name,,OrderNo")], "Property [asc|desc]", id="empty-item"),
        pytest.param([("$orderby", "Name, name desc")], "appears twice", id="twice"),
        pytest.param([("$select", "Name;drop")], "comma-separated", id="select-junk"),
        pytest.param([("$skiptoken", "")], "empty", id="empty-token"),
    ],
)
def test_bad_options(pairs, message):
    with pytest.raises(ODataError) as raised:
        parse_query_options(pairs)
    assert message in raised.value.message
    assert raised.value.status == 400 and raised.value.code == "InvalidQuery"


def test_top_bound_comes_from_the_limits():
    with pytest.raises(ODataError, match="at most 10"):
        parse_query_options([("$top", "11")], QueryLimits(max_top=10))


def test_select_and_order_by():
    assert parse_select("Name, OrderNo,name") == ("Name", "OrderNo")
    assert parse_select("*") == ()
    assert parse_order_by("A asc") == (OrderItem("A", False, 0),)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        pytest.param("A eq 1", Compare("eq", Property("A", 0), Literal(1, 5), 2), id="eq"),
        pytest.param("A eq 'it''s'", Compare("eq", Property("A", 0), Literal("it's", 5), 2), id="escaped-quote"),
        pytest.param("A ge -2.50", Compare("ge", Property("A", 0), Literal(Decimal("-2.50"), 5), 2), id="decimal"),
        pytest.param("A eq null", Compare("eq", Property("A", 0), Literal(None, 5), 2), id="null"),
        pytest.param("A ne true", Compare("ne", Property("A", 0), Literal(True, 5), 2), id="bool"),
        pytest.param(
            "A eq 1 or B eq 2 and C eq 3",
            BoolOp(
                "or",
                Compare("eq", Property("A", 0), Literal(1, 5), 2),
                BoolOp(
                    "and",
                    Compare("eq", Property("B", 10), Literal(2, 15), 12),
                    Compare("eq", Property("C", 21), Literal(3, 26), 23),
                    17,
                ),
                7,
            ),
            id="precedence",
        ),
        pytest.param("not (A eq 1)", Not(Compare("eq", Property("A", 5), Literal(1, 10), 7), 0), id="not-parens"),
        pytest.param("A in ('x', 'y')", In(Property("A", 0), (Literal("x", 6), Literal("y", 11)), 2), id="in"),
        pytest.param(
            "contains(tolower(Name),'ab')",
            Call("contains", (Call("tolower", (Property("Name", 17),), 9), Literal("ab", 23)), 0),
            id="nested-call",
        ),
        pytest.param("A EQ 1", Compare("eq", Property("A", 0), Literal(1, 5), 2), id="operator-case"),
    ],
)
def test_filter_trees(text, tree):
    assert parse_filter(text) == tree


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        pytest.param("A eq", "Unexpected end", 4, id="missing-value"),
        pytest.param("A eq 'x", "Unterminated string", 5, id="unterminated"),
        pytest.param("A eq 1)", "Unexpected ')'", 6, id="stray-paren"),
        pytest.param("(A eq 1", "Expected ')'", 7, id="unclosed"),
        pytest.param("A eq 1 and", "Unexpected end", 10, id="dangling-and"),
        pytest.param("A # 1", "Unexpected character '#'", 2, id="bad-char"),
        pytest.param("frobnicate(A)", "Unknown function 'frobnicate'", 0, id="unknown-function"),
        pytest.param("contains(A)", "takes 2 argument", 0, id="arity"),
        pytest.param("A eq and", "operator 'and'", 5, id="operator-as-value"),
        pytest.param("A in (B)", "Expected a literal", 6, id="in-property"),
        pytest.param("A eq 1 1", "Unexpected '1'", 7, id="trailing"),
        pytest.param("A eq 99999999999999999999", "out of range", 5, id="huge-int"),
        pytest.param("   ", "empty", None, id="blank"),
    ],
)
def test_filter_errors_name_the_position(text, message, position):
    with pytest.raises(ODataError) as raised:
        parse_filter(text)
    assert message in raised.value.message
    assert raised.value.target == "$filter"
    assert raised.value.position == position


def test_filter_guards():
    many = " or ".join(f"A eq {i}" for i in range(40))
    with pytest.raises(ODataError, match="nodes"):
        parse_filter(many, QueryLimits(max_filter_nodes=100))
    with pytest.raises(ODataError, match="longer than"):
        parse_filter("A eq 1" * 1000, QueryLimits(max_filter_length=100))
    with pytest.raises(ODataError, match="nested"):
        parse_filter("(" * 50 + "A eq 1" + ")" * 50)
    with pytest.raises(ODataError, match="nested"):
        parse_filter("not " * 50 + "A eq 1")
