"""`$apply` on both roots, in process and on both engines: grouped pages followed through their
nextLinks equal the same GROUP BY run directly on the SQLite file."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

GROUPED = "groupby((ProductNo),aggregate(AmountInCurrency with sum as Total,$count as Lines))"


def direct(company_db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(company_db) as connection:
        return connection.execute(sql).fetchall()


async def pull(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every group, page after page through `@odata.nextLink`, in pages of 40."""
    headers = {"Prefer": "odata.maxpagesize=40"}
    response = await client.get(url, params=params, headers=headers)
    rows: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["value"])
        link = body.get("@odata.nextLink")
        if link is None:
            return rows
        response = await client.get(link, headers=headers)


@pytest.mark.parametrize("url", ["/api/9999/orderlines", "/odata/9999/OrderLines"])
async def test_grouped_pages_equal_a_direct_group_by(client: httpx.AsyncClient, company_db: Path, url: str):
    rows = await pull(client, url, {"$apply": GROUPED, "$orderby": "ProductNo"})
    expected = direct(company_db, "SELECT ProdNo, SUM(Am), COUNT(*) FROM OrdLn GROUP BY ProdNo ORDER BY ProdNo")
    assert len(rows) == len(expected) > 40, "more than one page"
    for row, (product, total, lines) in zip(rows, expected, strict=True):
        assert row["ProductNo"] == product and row["Lines"] == lines
        assert abs(Decimal(str(row["Total"])) - Decimal(str(total))) < Decimal("0.01")


@pytest.mark.parametrize("url", ["/api/9999/orderlines", "/odata/9999/OrderLines"])
async def test_filter_then_group_then_filter_sort_and_count_the_groups(
    client: httpx.AsyncClient, company_db: Path, url: str
):
    params = {
        "$apply": "filter(LineNo le 3)/groupby((ProductNo),aggregate($count as Lines))",
        "$filter": "Lines ge 2",
        "$orderby": "Lines desc,ProductNo",
        "$top": "10",
        "$count": "true",
    }
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        company_db,
        "SELECT ProdNo, COUNT(*) AS n FROM OrdLn WHERE LnNo <= 3 GROUP BY ProdNo HAVING n >= 2 ORDER BY n DESC, ProdNo",
    )
    assert [(r["ProductNo"], r["Lines"]) for r in body["value"]] == expected[:10]
    assert body["@odata.count"] == len(expected)
    if url.startswith("/odata"):
        assert body["@odata.context"].endswith("$metadata#OrderLines(ProductNo,Lines)")
        assert response.headers.get_list("OData-Version") == ["4.0"]


@pytest.mark.parametrize(
    ("apply", "culprit"),
    [
        ("groupby((Nope))", "Nope"),
        ("groupby((ProductNo),aggregate(Description with sum as T))", "Description"),
        ("groupby((ProductNo),aggregate(Quantity with median as T))", "median"),
        ("groupby((ProductNo)", "$apply"),
        ("groupby((ProductNo))/groupby((ProductNo))", "$apply"),
        ("compute(Quantity mul 2 as Q)", "compute"),
    ],
)
@pytest.mark.parametrize("url", ["/api/9999/orderlines", "/odata/9999/OrderLines"])
async def test_bad_apply_is_a_400_naming_the_culprit(client: httpx.AsyncClient, url: str, apply: str, culprit: str):
    response = await client.get(url, params={"$apply": apply})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "InvalidQuery" and error["target"] == "$apply"
    assert culprit in error["message"] or culprit == "$apply"


async def test_a_token_of_a_grouped_page_does_not_serve_another_grouping(client: httpx.AsyncClient):
    first = await client.get(
        "/api/9999/orderlines",
        params={"$apply": GROUPED, "$orderby": "ProductNo"},
        headers={"Prefer": "odata.maxpagesize=5"},
    )
    link = first.json()["@odata.nextLink"]
    other = link.replace("Total", "Sum")
    response = await client.get(other)
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidSkipToken"


@pytest.mark.parametrize("url", ["/api/9999/orders", "/odata/9999/Orders"])
async def test_expand_with_apply_is_a_400(client: httpx.AsyncClient, url: str):
    response = await client.get(
        url, params={"$apply": "groupby((OrderType),aggregate($count as N))", "$expand": "Customer"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["target"] == "$expand"
