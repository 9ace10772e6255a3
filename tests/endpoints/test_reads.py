"""The read path in process: every row checked against a direct query of the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

ORDER_COLUMNS = ("OrdNo", "Nm", "CustNo", "OrdDt")


def direct(company_db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(company_db) as connection:
        return connection.execute(sql, params).fetchall()


async def test_list_with_count_top_and_key_order(client: httpx.AsyncClient, company_db: Path):
    response = await client.get("/api/9999/orders", params={"$top": "5", "$count": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["@odata.count", "value"]
    assert body["@odata.count"] == direct(company_db, "SELECT COUNT(*) FROM Ord")[0][0]
    expected = direct(company_db, "SELECT OrdNo, Nm, CustNo, OrdDt FROM Ord ORDER BY OrdNo LIMIT 5")
    assert [(r["OrderNo"], r["Name"], r["CustomerNo"], r["OrderDate"]) for r in body["value"]] == expected


@pytest.mark.parametrize(
    ("order_by", "sql_order"),
    [
        pytest.param("OrderNo desc", "OrdNo DESC", id="key-desc"),
        pytest.param("CustomerNo desc,OrderDate", "CustNo DESC, OrdDt, OrdNo", id="two-columns"),
        pytest.param("name", "Nm COLLATE NOCASE, OrdNo", id="text-case-insensitive"),
    ],
)
async def test_order_skip_top_match_sqlite(client, company_db, order_by, sql_order):
    response = await client.get(
        "/api/9999/orders", params={"$orderBy": order_by, "$skip": "37", "$top": "25", "$select": "OrderNo,Name"}
    )
    assert response.status_code == 200, response.text
    rows = [(r["OrderNo"], r["Name"]) for r in response.json()["value"]]
    assert rows == direct(company_db, f"SELECT OrdNo, Nm FROM Ord ORDER BY {sql_order} LIMIT 25 OFFSET 37")
    assert all(set(r) == {"OrderNo", "Name"} for r in response.json()["value"])


async def test_composite_key_get_and_decimals(client, company_db):
    expected = direct(company_db, "SELECT OrdNo, LnNo, NoInvoAb, Price, Am FROM OrdLn WHERE LnNo = 2 LIMIT 1")[0]
    response = await client.get(f"/api/9999/orderlines/{expected[0]}/2")
    assert response.status_code == 200
    row = response.json()
    assert (row["OrderNo"], row["LineNo"], row["Quantity"], row["PriceInCurrency"], row["AmountInCurrency"]) == expected
    assert '"AmountInCurrency":' + repr(expected[4]) in response.text  # shortest round-trip form, no precision loss


async def test_page_size_and_next_link_walk_every_row_once(client, company_db):
    seen: list[int] = []
    url = "/api/9999/orders?$orderby=CustomerNo desc&$select=OrderNo,CustomerNo&$count=true"
    headers = {"Prefer": "odata.maxpagesize=300"}
    for _ in range(50):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["preference-applied"] == "odata.maxpagesize=300"
        body = response.json()
        assert body["@odata.count"] == 2000
        seen.extend(r["OrderNo"] for r in body["value"])
        if "@odata.nextLink" not in body:
            break
        assert len(body["value"]) == 300
        link = body["@odata.nextLink"]
        assert link.startswith("https://testserver/api/9999/orders?")
        url = link
    else:
        pytest.fail("paging did not end")
    expected = [r[0] for r in direct(company_db, "SELECT OrdNo FROM Ord ORDER BY CustNo DESC, OrdNo")]
    assert seen == expected


async def test_top_bounds_a_paged_pull(client):
    response = await client.get(
        "/api/9999/orders?$top=450&$select=OrderNo", headers={"Prefer": "odata.maxpagesize=200"}
    )
    rows = response.json()["value"]
    link = response.json()["@odata.nextLink"]
    while link:
        page = (await client.get(link, headers={"Prefer": "odata.maxpagesize=200"})).json()
        rows += page["value"]
        link = page.get("@odata.nextLink")
    assert [r["OrderNo"] for r in rows] == list(range(1, 451))


async def test_last_page_has_no_next_link(client):
    body = (await client.get("/api/9999/orders", params={"$top": "1000", "$skip": "1000"})).json()
    assert len(body["value"]) == 1000 and "@odata.nextLink" not in body
    body = (await client.get("/api/9999/currencies")).json()
    assert "@odata.nextLink" not in body and len(body["value"]) == 6


async def test_tampered_or_foreign_skiptoken_is_refused(client):
    body = (await client.get("/api/9999/orders?$select=OrderNo", headers={"Prefer": "odata.maxpagesize=10"})).json()
    token = parse_qs(urlsplit(body["@odata.nextLink"]).query)["$skiptoken"][0]
    for url in (
        f"/api/9999/orders?$select=OrderNo,Name&$skiptoken={token}",  # another $select
        f"/api/9999/products?$select=OrderNo&$skiptoken={token}",  # another resource
        f"/api/9999/orders?$select=OrderNo&$skiptoken={token[:-2]}AA",  # altered
        "/api/9999/orders?$select=OrderNo&$skiptoken=not-a-token",
    ):
        response = await client.get(url)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] in ("InvalidSkipToken", "InvalidQuery")


async def test_vbsys_catalog_and_resource_listing(client):
    companies = (await client.get("/api/VBSYS/companies")).json()["value"]
    assert {(c["CompanyNo"], c["Name"]) for c in companies} == {(9999, "Demo Company AS"), (1, "Småbedrift AS")}
    assert (await client.get("/api/catalog/modeltables?$top=1")).status_code == 200
    listing = (await client.get("/api/9999")).json()["value"]
    names = {entry["name"]: entry for entry in listing}
    assert names["orderlines"]["key"] == ["OrderNo", "LineNo"]
    assert names["acme_delroute"]["extension"] is True
    assert names["orders"]["url"] == "https://testserver/api/9999/orders"
    count = await client.get(names["orders"]["count"])
    assert count.text == "2000" and count.headers["content-type"].startswith("text/plain")


async def test_extension_column_and_small_company(client, demo_folder):
    rows = (await client.get("/api/9999/associates?$select=AssociateNo,ACME_Segment&$top=4")).json()["value"]
    assert [r["ACME_Segment"] for r in rows] == ["Retail", "Wholesale", "Public", None]
    small = (await client.get("/api/1/orders?$count=true&$top=0")).json()
    assert (
        small["value"] == []
        and small["@odata.count"] == direct(demo_folder / "F0001.db", "SELECT COUNT(*) FROM Ord")[0][0]
    )


async def test_health(client):
    response = await client.get("/health")
    assert response.json() == {
        "status": "ok",
        "databases": {"Catalog": "ok", "F0001": "ok", "F9999": "ok", "vbsys": "ok"},
        "licence": {"status": "unlicensed"},
    }
