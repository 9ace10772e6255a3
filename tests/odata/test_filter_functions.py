"""OData's typed literals and the functions and arithmetic Power BI folds: parsed with OData's
precedence, bound to Visma's stored forms (yyyymmdd dates, hhmm times), and every misuse a 400
that names the culprit and its position."""

from __future__ import annotations

import datetime as dt

import pytest

from redhorn.errors import ODataError
from redhorn.metadata import Column as _Column, Table
from redhorn.odata.ast import Arithmetic, Call, Compare, In, Literal, LiteralValue, Negate, Property, count_nodes
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import FUNCTIONS, QueryLimits, parse_filter

ID = _Column("No", "Number", "integer", "int")
ITEMS = Table(
    "Itm",
    "Item",
    "items",
    (
        ID,
        _Column("Nm", "Name", "string", "varchar(20)"),
        _Column("Pr", "Price", "decimal", "decimal(28,6)"),
        _Column("Dt", "OrderDate", "integer", "int", domain="date"),
        _Column("Tm", "OrderTime", "integer", "int", domain="time"),
        _Column("Chg", "Changed", "datetime", "datetime"),
        _Column("Qty", "Quantity", "integer", "int", nullable=True),
    ),
    (ID,),
)


def bind(text: str):
    return bind_filter(parse_filter(text), ITEMS)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("A eq 2026-01-01", dt.date(2026, 1, 1), id="date"),
        pytest.param("A eq 13:45", dt.time(13, 45), id="time-hh-mm"),
        pytest.param("A eq 13:45:07.25", dt.time(13, 45, 7, 250000), id="time-fraction"),
        pytest.param("A eq 2026-01-01T10:00:00Z", dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC), id="datetimeoffset"),
        pytest.param(
            "A eq 2026-01-01t10:00-02:00",
            dt.datetime(2026, 1, 1, 10, tzinfo=dt.timezone(-dt.timedelta(hours=2))),
            id="datetimeoffset-offset",
        ),
    ],
)
def test_typed_literals_parse(text: str, value: LiteralValue):
    tree = parse_filter(text)
    assert isinstance(tree, Compare) and tree.right == Literal(value, 5)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        pytest.param("A eq 2026-02-30", "Invalid date '2026-02-30'", 5, id="no-such-day"),
        pytest.param("A eq 2026-13-01", "Invalid date", 5, id="no-such-month"),
        pytest.param("A eq 24:00", "Invalid time '24:00'", 5, id="hour-24"),
        pytest.param("A eq 12:60", "Invalid time", 5, id="minute-60"),
        pytest.param("A eq 2026-01-01T10:00", "needs a time zone", 5, id="no-zone"),
        pytest.param("A eq 2026-01-01T10:00+25:00", "Invalid time zone", 5, id="bad-zone"),
        pytest.param("substring(A)", "substring() takes 2 to 3 argument(s), got 1", 0, id="substring-arity"),
        pytest.param("now(1) eq A", "now() takes 0 argument(s), got 1", 0, id="now-arity"),
        pytest.param("A add eq 1", "operator 'eq'", 6, id="missing-operand"),
        pytest.param("A eq mod", "operator 'mod'", 5, id="operator-as-value"),
    ],
)
def test_bad_literals_and_calls_are_syntax_errors(text: str, message: str, position: int):
    with pytest.raises(ODataError) as raised:
        parse_filter(text)
    assert message in raised.value.message and raised.value.position == position


def test_arithmetic_precedence_follows_odata():
    # mul binds tighter than add, add tighter than eq; chains are left-associative.
    tree = parse_filter("A add B mul C eq D sub E sub F")
    assert tree == Compare(
        "eq",
        Arithmetic("add", Property("A", 0), Arithmetic("mul", Property("B", 6), Property("C", 12), 8), 2),
        Arithmetic("sub", Arithmetic("sub", Property("D", 17), Property("E", 23), 19), Property("F", 29), 25),
        14,
    )
    assert parse_filter("-A mod 2 eq 1").left == Arithmetic(  # type: ignore[union-attr]
        "mod", Negate(Property("A", 1), 0), Literal(2, 7), 3
    )
    assert parse_filter("A sub -1 eq 0").left == Arithmetic("sub", Property("A", 0), Literal(-1, 6), 2)  # type: ignore[union-attr]


def test_size_guards_cover_the_new_nodes():
    assert count_nodes(parse_filter("-A add year(B) eq 1")) == 7
    with pytest.raises(ODataError, match="nodes"):
        parse_filter(" add ".join(["A"] * 60) + " eq 1")
    with pytest.raises(ODataError, match="nests values more than"):
        parse_filter(" add ".join(["A"] * 20) + " eq 1")
    with pytest.raises(ODataError, match="nested"):
        parse_filter("-" * 50 + "A eq 1", QueryLimits(max_filter_nodes=1000))


def test_functions_is_the_list_of_supported_names():
    assert set(FUNCTIONS) == {
        *("contains", "startswith", "endswith", "tolower", "toupper", "length", "trim"),
        *("substring", "indexof", "concat", "year", "month", "day", "hour", "minute", "second"),
        *("round", "floor", "ceiling", "now"),
    }


@pytest.mark.parametrize(
    ("text", "right"),
    [
        pytest.param("OrderDate ge 2026-01-01", Literal(20260101, 13), id="date-literal"),
        pytest.param("OrderDate ge 20260101", Literal(20260101, 13), id="integer-still-works"),
        pytest.param("OrderDate eq 2026-03-04T00:00:00+01:00", Literal(20260304, 13), id="midnight-offset"),
        pytest.param("OrderTime eq 13:45", Literal(1345, 13), id="time-literal"),
        pytest.param("OrderTime eq 13:45:00", Literal(1345, 13), id="time-zero-seconds"),
        pytest.param("Changed lt 2026-01-01T10:00:00+02:00", Literal("2026-01-01T08:00:00", 11), id="datetime-utc"),
    ],
)
def test_typed_literals_bind_to_visma_storage(text: str, right: Literal):
    tree = bind(text)
    assert isinstance(tree, Compare) and tree.right == right


def test_typed_literals_in_lists_and_mirrored():
    tree = bind("OrderDate in (2026-01-01, 20260102)")
    assert isinstance(tree, In) and tree.values == (Literal(20260101, 14), Literal(20260102, 26))
    tree = bind("2026-01-01 le OrderDate")
    assert isinstance(tree, Compare) and tree.left == Literal(20260101, 0)


def test_now_takes_the_unit_of_the_other_side():
    date = bind("OrderDate le now()")
    assert isinstance(date, Compare) and date.right == Call("now", (), 13, now="date")
    time = bind("now() gt OrderTime")
    assert isinstance(time, Compare) and time.left == Call("now", (), 0, now="time")


def test_div_knows_whether_it_divides_integers():
    integer = bind("Number div 2 eq 1")
    decimal = bind("Price div 2 eq 1")
    assert isinstance(integer, Compare) and isinstance(integer.left, Arithmetic) and integer.left.integer
    assert isinstance(decimal, Compare) and isinstance(decimal.left, Arithmetic) and not decimal.left.integer
    rounded = bind("round(Price) div 2 eq 1")
    assert isinstance(rounded, Compare) and not rounded.left.integer  # type: ignore[union-attr]
    lengths = bind("length(Name) div year(OrderDate) eq 0")
    assert isinstance(lengths, Compare) and lengths.left.integer  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "year(OrderDate) eq 2026 and month(OrderDate) ge 6 and day(OrderDate) lt 15",
        "hour(OrderTime) eq 13 and minute(OrderTime) eq 45 and second(OrderTime) eq 0",
        "substring(Name, 1) eq 'x' and substring(Name, 0, 2) eq 'ab'",
        "indexof(Name, 'b') ge 0 and concat(Name, 'x') eq 'ax' and concat('x', Name) ne 'y'",
        "round(Price) eq 2 and floor(Price) lt 1 and ceiling(Number) gt 0",
        "Number add 1 sub Quantity mul 2 div 3 mod 4 gt -Price",
        "contains(concat(Name, 'x'), 'ax') and startswith(substring(Name, 1), 'b')",
        "length(toupper(trim(Name))) eq 3",
    ],
)
def test_functions_and_arithmetic_bind(text: str):
    assert count_nodes(bind(text)) == count_nodes(parse_filter(text))


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        pytest.param("Number eq 2026-01-01", "Cannot compare a date (the literal 2026-01-01) with", 10, id="date-int"),
        pytest.param("Name eq 2026-01-01", "Cannot compare a string with a date", 5, id="date-string"),
        pytest.param("OrderDate eq 13:45", "Cannot compare a date with a time", 10, id="date-time"),
        pytest.param("OrderTime eq 2026-01-01", "Cannot compare a time with a date", 10, id="time-date"),
        pytest.param("OrderTime eq 13:45:30", "Visma stores times to the minute", 13, id="seconds"),
        pytest.param("OrderDate eq 2026-01-01T10:00:00Z", "not with a time of day", 13, id="date-with-time"),
        pytest.param("OrderTime eq 2026-01-01T00:00:00Z", "Cannot compare a datetimeoffset", 13, id="time-dto"),
        pytest.param("OrderDate eq 'x'", "Cannot compare a date with a string", 10, id="date-text"),
        pytest.param("OrderDate in (13:45)", "Cannot compare a date with 13:45:00 in 'in'", 14, id="in-time"),
        pytest.param("year(Name) eq 1", "year() takes a date, not a string (the property 'Name')", 5, id="year-text"),
        pytest.param("year(Number) eq 1", "year() takes a date, not a number", 5, id="year-number"),
        pytest.param("hour(OrderDate) eq 1", "hour() takes a time, not a date", 5, id="hour-date"),
        pytest.param("round(Name) eq 1", "round() takes a number, not a string", 6, id="round-text"),
        pytest.param("floor(OrderDate) eq 1", "use year(), month()", 6, id="floor-date"),
        pytest.param("Name add 1 eq 1", "'add' takes a number, not a string (the property 'Name')", 0, id="add-text"),
        pytest.param("OrderDate add 1 eq 1", "'add' takes a number, not a date", 0, id="add-date"),
        pytest.param("-Name eq 'a'", "'-' takes a number, not a string", 1, id="negate-text"),
        pytest.param("Number mul 'a' eq 1", "'mul' takes a number, not a string", 11, id="mul-text"),
        pytest.param("substring(Number, 1) eq 'a'", "substring() takes text, not a number", 10, id="substring-num"),
        pytest.param("substring(Name, -1) eq 'a'", "whole numbers of at least 0", 16, id="substring-negative"),
        pytest.param("substring(Name, Number) eq 'a'", "whole numbers of at least 0", 16, id="substring-column"),
        pytest.param("substring(Name, 1, 1.5) eq 'a'", "whole numbers of at least 0", 19, id="substring-decimal"),
        pytest.param("indexof(Name, 1) eq 0", "indexof() takes text, not a number", 14, id="indexof-number"),
        pytest.param("concat(Name, Number) eq 'a'", "concat() takes text, not a number", 13, id="concat-number"),
        pytest.param("concat(Name, null) eq 'a'", "concat() takes text, not a null", 13, id="concat-null"),
        pytest.param("Quantity add null eq null", "'add' takes a number, not a null", 13, id="add-null"),
        pytest.param("now() eq 1", "now() can only be compared with a date or time property", 0, id="now-number"),
        pytest.param("now() eq Name", "now() can only be compared", 0, id="now-text"),
        pytest.param("year(now()) eq 2026", "now() can only be compared", 5, id="now-in-call"),
        pytest.param("now() add 1 eq OrderDate", "now() can only be compared", 0, id="now-arith"),
        pytest.param("Number add 1", "$filter must be a condition", 7, id="arith-alone"),
        pytest.param("Number eq year(OrderDate) add 'x'", "'add' takes a number", 30, id="nested-culprit"),
    ],
)
def test_misuses_are_400s_naming_culprit_and_position(text: str, message: str, position: int):
    with pytest.raises(ODataError) as raised:
        bind(text)
    assert message in raised.value.message, raised.value.message
    assert raised.value.status == 400 and raised.value.target == "$filter"
    assert raised.value.position == position, raised.value.message
