"""Paging end to end, as units: page size from `Prefer`, the token's binding, and the cut of a page."""

from __future__ import annotations

import pytest

from redhorn.errors import InvalidSkipToken
from redhorn.metadata import Column, Table
from redhorn.odata.parser import DEFAULT_LIMITS, parse_query_options
from redhorn.query.paging import (
    PageToken,
    binding_of,
    cut_page,
    next_page_token,
    page_size_of,
    sign_page_token,
    verify_page_token,
)
from redhorn.query.plan import plan_list

KEY = Column("OrdNo", "OrderNo", "integer", "int")
ORDERS = Table("Ord", "Order", "orders", (KEY, Column("Nm", "Name", "string", "varchar(80)")), (KEY,))
NO_KEY = Table("V", "View", "views", (Column("Nm", "Name", "string", "varchar(80)"),), (), is_view=True)
SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        (None, (500, None)),
        ("odata.maxpagesize=20", (20, "odata.maxpagesize=20")),
        ("respond-async, odata.maxpagesize=7", (7, "odata.maxpagesize=7")),
        ("odata.maxpagesize=9000", (500, "odata.maxpagesize=500")),
        ("odata.maxpagesize=0", (1, "odata.maxpagesize=1")),
        ("odata.maxpagesize=²", (500, None)),
        ("odata.maxpagesize=1234567890", (500, None)),
        ("return=minimal", (500, None)),
    ],
)
def test_the_page_size_is_the_preference_within_the_maximum(prefer, expected):
    assert page_size_of(prefer, 500) == expected


def _plan(query: str, page_size: int = 2, table: Table = ORDERS, token: PageToken | None = None):
    pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    options = parse_query_options(pairs, DEFAULT_LIMITS)  # type: ignore[arg-type]
    return options, plan_list(table, options, page_size=page_size, token=token)


def test_a_page_with_more_rows_than_its_size_is_cut_and_gets_a_token_for_the_rest():
    options, plan = _plan("$orderby=Name")
    rows = [(1, "a"), (2, "b"), (3, "c")]  # OrderNo, Name: the output; the order columns are among them
    binding = binding_of("F9999", ORDERS, options, "ann")
    page, token = cut_page(plan, rows, SECRET, binding)
    assert page == rows[:2]
    assert token is not None
    assert verify_page_token(SECRET, binding, token) == PageToken(("b", 2), 2)


def test_the_last_page_has_no_token():
    options, plan = _plan("")
    page, token = cut_page(plan, [(1, "a")], SECRET, binding_of("F9999", ORDERS, options, "ann"))
    assert page == [(1, "a")] and token is None


def test_top_bounds_the_whole_pull_so_the_page_that_reaches_it_has_no_token():
    options, plan = _plan("$top=2")
    page, token = cut_page(plan, [(1, "a"), (2, "b")], SECRET, binding_of("F9999", ORDERS, options, "ann"))
    assert len(page) == 2 and token is None


def test_a_table_without_a_key_pages_by_offset():
    _, plan = _plan("", table=NO_KEY, token=PageToken((), 4, 4))
    assert next_page_token(plan, [("x",), ("y",)]) == PageToken((), 6, 6)


@pytest.mark.parametrize(
    "other",
    [
        ("F0001", ORDERS, "", "ann"),
        ("F9999", ORDERS, "$filter=OrderNo gt 1", "ann"),
        ("F9999", ORDERS, "$select=Name", "ann"),
        ("F9999", ORDERS, "$top=9", "ann"),
        ("F9999", ORDERS, "$count=true", "ann"),
        ("F9999", ORDERS, "", "bob"),
    ],
)
def test_a_token_binds_company_resource_options_and_user(other):
    options, plan = _plan("")
    _, token = cut_page(plan, [(1, "a"), (2, "b"), (3, "c")], SECRET, binding_of("F9999", ORDERS, options, "ann"))
    assert token is not None
    database, table, query, user = other
    other_options, _ = _plan(query, table=table)
    with pytest.raises(InvalidSkipToken):
        verify_page_token(SECRET, binding_of(database, table, other_options, user), token)


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "!!!.???", sign_page_token(b"x" * 32, "b", PageToken((1,), 1))])
def test_a_malformed_or_foreign_token_is_refused(text):
    with pytest.raises(InvalidSkipToken):
        verify_page_token(SECRET, "b", text)
