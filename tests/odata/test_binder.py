"""Binding a `$filter` to a table: names become the metadata's spelling, and every misuse of a type is
refused with a message naming what is wrong and the position where it is."""

from __future__ import annotations

from typing import Any, cast

import pytest

from redhorn.errors import ODataError
from redhorn.metadata import Column, Table
from redhorn.odata.ast import Call, Compare, In, Literal, Not, Property, count_nodes
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import parse_filter

NUMBER = Column("No", "Number", "integer", "int")
ITEMS = Table(
    "Itm",
    "Item",
    "items",
    (
        NUMBER,
        Column("Nm", "Name", "string", "varchar(20)"),
        Column("Pr", "Price", "decimal", "decimal(28,6)"),
        Column("Act", "Active", "boolean", "bit"),
        Column("Chg", "Changed", "datetime", "datetime"),
        Column("Pic", "Picture", "binary", "varbinary(max)", nullable=True),
    ),
    (NUMBER,),
)


def bind(text: str):
    return bind_filter(parse_filter(text), ITEMS)


def test_properties_are_bound_in_the_metadata_spelling():
    assert bind("name eq 'x' and ACTIVE") == bind("Name eq 'x' and Active")
    tree = bind("not (tolower(NAME) in ('a', 'b'))")
    assert isinstance(tree, Not) and isinstance(tree.operand, In)
    assert tree.operand.operand == Call("tolower", (Property("Name", 13),), 5)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Active eq true", id="boolean-literal"),
        pytest.param("Active ne false", id="boolean-ne"),
        pytest.param("Changed ge '2024-01-01T00:00:00'", id="datetime-with-iso-text"),
        pytest.param("'2024-01-01' lt Changed", id="iso-text-with-datetime"),
        pytest.param("Picture eq null", id="binary-with-null"),
        pytest.param("Price gt 1.5 and Number in (1, 2)", id="numbers"),
        pytest.param("(Name eq 'a') eq Active", id="condition-as-boolean-value"),
        pytest.param("length(Name) gt 2", id="length-is-a-number"),
        pytest.param("startswith(toupper(Name), trim(Name))", id="transforms-are-text"),
        pytest.param("true", id="true-literal-is-a-condition"),
    ],
)
def test_well_typed_filters_bind(text: str):
    tree = bind(text)
    assert count_nodes(tree) == count_nodes(parse_filter(text)), "binding keeps the tree's shape"


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        pytest.param("Name", "$filter must be a condition", 0, id="text-property-alone"),
        pytest.param("length(Name)", "$filter must be a condition", 0, id="number-function-alone"),
        pytest.param("'x'", "$filter must be a condition", 0, id="literal-alone"),
        pytest.param("Nope eq 1", "Unknown property 'Nope' of 'items'", 0, id="unknown-property"),
        pytest.param("not Name", "'not' must be followed by a condition", 0, id="not-text"),
        pytest.param("null eq null", "Cannot compare null with null", 5, id="null-null"),
        pytest.param("Name eq 1", "Cannot compare a string with a number using 'eq'", 5, id="string-number"),
        pytest.param("Number eq true", "Cannot compare a number with a boolean", 7, id="number-boolean"),
        pytest.param("Changed eq 5", "Cannot compare a datetime with a number", 8, id="datetime-number"),
        pytest.param("Picture eq 'x'", "Cannot compare a binary with a string", 8, id="binary-string"),
        pytest.param("Name gt null", "Only 'eq' and 'ne' can compare with null, not 'gt'", 5, id="gt-null"),
        pytest.param("null le Number", "Only 'eq' and 'ne' can compare with null, not 'le'", 5, id="null-le"),
        pytest.param("Active gt false", "Booleans can only be compared with 'eq' or 'ne', not 'gt'", 7, id="bool-gt"),
        pytest.param("'a' in ('a', 'b')", "The left side of 'in' must be a property or a function", 4, id="in-literal"),
        pytest.param("Number in (1, 'two')", "Cannot compare a number with 'two' in 'in'", 14, id="in-mixed"),
        pytest.param("Active in (1)", "Cannot compare a boolean with 1 in 'in'", 11, id="in-boolean"),
        pytest.param("Name and Active", "Both sides of 'and' must be conditions", 0, id="and-text-left"),
        pytest.param("Active or Price", "Both sides of 'or' must be conditions", 10, id="or-number-right"),
        pytest.param("contains(Number, '1')", "contains() takes text, not a number", 9, id="contains-number"),
        pytest.param("length(Active) eq 1", "length() takes text, not a boolean", 7, id="length-boolean"),
        pytest.param("tolower(null) eq 'a'", "tolower() takes text, not a null", 8, id="tolower-null"),
        pytest.param(
            "contains('abc', Name)",
            "The first argument of contains() must be a property or a function",
            0,
            id="literal",
        ),
        pytest.param("trim('  a') eq 'a'", "The first argument of trim() must be a property", 0, id="trim-literal"),
    ],
)
def test_misuses_are_refused_naming_the_position(text: str, message: str, position: int):
    with pytest.raises(ODataError) as raised:
        bind(text)
    assert message in raised.value.message
    assert raised.value.message.endswith(f"at position {position}")
    assert raised.value.target == "$filter"
    assert raised.value.position == position


class Unknown:
    """A node type the binder does not know: a new node type that nobody taught it yet."""

    position = 3


def test_a_node_type_the_binder_does_not_know_fails_loudly():
    with pytest.raises(AssertionError):
        bind_filter(Compare("eq", cast(Any, Unknown()), Literal(1)), ITEMS)


def test_counting_nodes_of_an_unknown_type_fails_loudly():
    assert count_nodes(parse_filter("not (A eq 1)")) == 4
    with pytest.raises(AssertionError):
        count_nodes(cast(Any, Unknown()))
