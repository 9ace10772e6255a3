"""The `$apply` parser: every supported shape parses to its tree, every malformed one is a clear ODataError."""

from __future__ import annotations

import pytest

from redhorn.errors import ODataError
from redhorn.odata.apply import (
    MAX_AGGREGATES,
    MAX_APPLY_LENGTH,
    MAX_GROUP_PROPERTIES,
    MAX_TRANSFORMATIONS,
    Aggregate,
    AggregateStep,
    FilterStep,
    GroupByStep,
    GroupProperty,
    parse_apply,
)
from redhorn.odata.ast import Compare, Literal, Property


def test_groupby_with_aggregates() -> None:
    tree = parse_apply("groupby((ProductNo,OrderNo),aggregate(Amount with sum as Total, $count as N))")
    (step,) = tree.steps
    assert isinstance(step, GroupByStep)
    assert [p.name for p in step.properties] == ["ProductNo", "OrderNo"]
    assert step.aggregates == (
        Aggregate("Amount", "sum", "Total", step.aggregates[0].position),
        Aggregate(None, "count", "N", step.aggregates[1].position),
    )


def test_groupby_alone_and_aggregate_alone() -> None:
    assert parse_apply("groupby((ProductNo))").steps == (GroupByStep((GroupProperty("ProductNo", 9),), (), 0),)
    (step,) = parse_apply("aggregate(Amount with average as A,Qty with countdistinct as D)").steps
    assert isinstance(step, AggregateStep)
    assert [(a.property, a.method, a.alias) for a in step.aggregates] == [
        ("Amount", "average", "A"),
        ("Qty", "countdistinct", "D"),
    ]


def test_methods_and_keywords_are_case_insensitive() -> None:
    (step,) = parse_apply("AGGREGATE(Amount WITH Max AS M, $COUNT As C)").steps
    assert isinstance(step, AggregateStep)
    assert [(a.method, a.alias) for a in step.aggregates] == [("max", "M"), ("count", "C")]


def test_a_chain_of_filter_and_groupby() -> None:
    tree = parse_apply(
        "filter(OrderNo gt 5 and Name eq 'a/b(')/groupby((ProductNo),aggregate($count as N))/filter(N gt 1)"
    )
    kinds = [type(step) for step in tree.steps]
    assert kinds == [FilterStep, GroupByStep, FilterStep]
    last = tree.steps[2]
    assert isinstance(last, FilterStep)
    assert last.condition == Compare("gt", Property("N", 0), Literal(1, 5), 2)
    assert tree.text.startswith("filter(")


def test_positions_point_into_the_apply_text() -> None:
    text = "groupby((ProductNo),aggregate(Amount with median as M))"
    with pytest.raises(ODataError) as caught:
        parse_apply(text)
    assert caught.value.target == "$apply"
    assert caught.value.position == text.index("Amount")
    assert "'median'" in caught.value.message


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("", "empty"),
        ("groupby(ProductNo)", "parenthesized"),
        ("groupby((ProductNo)", "Unbalanced"),
        ("groupby((ProductNo)))", "Unbalanced"),
        ("groupby((ProductNo),topcount(3,Amount))", "'topcount'"),
        ("groupby((Product/Name))", "navigation"),
        ("groupby((ProductNo,productno))", "twice"),
        ("groupby((1x))", "'1x'"),
        ("groupby(())", "''"),
        ("compute(Amount mul 2 as D)", "'compute'"),
        ("aggregate(Amount as Total)", "needs a method"),
        ("aggregate($count with sum as N)", "$count takes no"),
        ("aggregate(Amount with sum)", "Property with method as Alias"),
        ("aggregate(Amount with sum as Total extra)", "Property with method as Alias"),
        ("aggregate(Amount with sum(x) as Total)", "Property with method as Alias"),
        ("aggregate()", "Property with method as Alias"),
        ("filter()", "needs a condition"),
        ("filter(OrderNo eq)", "In filter() of $apply"),
        ("filter(Name eq 'x)", "Unterminated"),
        ("groupby((A))x", "Expected a transformation"),
        ("groupby((A)) / ", "Expected a transformation"),
        ("filter(A eq 1)garbage", "Expected a transformation"),
        ("filter(A eq 1) garbage)", "Unbalanced"),
    ],
)
def test_malformed_apply_is_a_clear_error(text: str, culprit: str) -> None:
    with pytest.raises(ODataError) as caught:
        parse_apply(text)
    assert caught.value.target == "$apply"
    assert culprit in caught.value.message


def test_filter_errors_keep_their_position_in_the_apply_text() -> None:
    text = "groupby((A))/filter(A eq eq 1)"
    with pytest.raises(ODataError) as caught:
        parse_apply(text)
    assert caught.value.position is not None and caught.value.position >= text.index("A eq eq")


def test_limits() -> None:
    chain = "/".join(["filter(A eq 1)"] * (MAX_TRANSFORMATIONS + 1))
    with pytest.raises(ODataError, match="more than 10 transformations"):
        parse_apply(chain)
    assert len(parse_apply("/".join(["filter(A eq 1)"] * MAX_TRANSFORMATIONS)).steps) == MAX_TRANSFORMATIONS
    with pytest.raises(ODataError, match="longer than"):
        parse_apply("groupby((" + "A" * MAX_APPLY_LENGTH + "))")
    names = ",".join(f"P{n}" for n in range(MAX_GROUP_PROPERTIES + 1))
    with pytest.raises(ODataError, match="more than 32 properties"):
        parse_apply(f"groupby(({names}))")
    items = ",".join(f"P with sum as A{n}" for n in range(MAX_AGGREGATES + 1))
    with pytest.raises(ODataError, match="more than 32 aggregates"):
        parse_apply(f"aggregate({items})")


def test_a_huge_chain_is_refused_quickly() -> None:
    """Splitting stops at the limit: a text of thousands of slashes costs no more than eleven."""
    with pytest.raises(ODataError):
        parse_apply("/" * (MAX_APPLY_LENGTH - 1))
