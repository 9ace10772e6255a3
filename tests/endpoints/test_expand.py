"""`$expand` on both roots, in process and on both engines: nested rows equal direct queries of the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest


def direct(company_db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(company_db) as connection:
        return connection.execute(sql, params).fetchall()


async def test_orders_lines_and_customer(client: httpx.AsyncClient, company_db: Path):
    response = await client.get(
        "/api/9999/orders",
        params={
            "$top": "5",
            "$select": "OrderNo,CustomerNo",
            "$expand": "OrderLines($select=LineNo,ProductNo),Customer($select=AssociateNo,CustomerNo)",
        },
    )
    assert response.status_code == 200, response.text
    for order in response.json()["value"]:
        assert set(order) == {"OrderNo", "CustomerNo", "OrderLines", "Customer"}
        lines = direct(company_db, "SELECT LnNo, ProdNo FROM OrdLn WHERE OrdNo = ? ORDER BY LnNo", (order["OrderNo"],))
        assert [(line["LineNo"], line["ProductNo"]) for line in order["OrderLines"]] == lines
        customer = direct(
            company_db,
            "SELECT ActNo, CustNo FROM Actor WHERE CustNo = ? ORDER BY ActNo LIMIT 1",
            (order["CustomerNo"],),
        )
        expected = {"AssociateNo": customer[0][0], "CustomerNo": customer[0][1]} if customer else None
        assert order["Customer"] == expected


async def test_line_order_and_product_by_key_and_nested_options(client: httpx.AsyncClient, company_db: Path):
    response = await client.get(
        "/api/9999/orderlines/1/1",
        params={
            "$select": "OrderNo,ProductNo",
            "$expand": "Order($select=OrderNo,OrderDate),Product($select=ProductNo)",
        },
    )
    assert response.status_code == 200, response.text
    row = response.json()
    assert row["Order"] == {
        "OrderNo": 1,
        "OrderDate": direct(company_db, "SELECT OrdDt FROM Ord WHERE OrdNo = 1")[0][0],
    }
    assert row["Product"] == {"ProductNo": row["ProductNo"]}
    nested = await client.get(
        "/api/9999/orders",
        params={
            "$top": "3",
            "$select": "OrderNo",
            "$expand": "OrderLines($select=LineNo;$filter=LineNo gt 1;$orderby=LineNo desc;$top=2;"
            "$expand=Product($select=ProductNo))",
        },
    )
    assert nested.status_code == 200, nested.text
    for order in nested.json()["value"]:
        numbers = [
            r[0]
            for r in direct(
                company_db,
                "SELECT LnNo FROM OrdLn WHERE OrdNo = ? AND LnNo > 1 ORDER BY LnNo DESC LIMIT 2",
                (order["OrderNo"],),
            )
        ]
        assert [line["LineNo"] for line in order["OrderLines"]] == numbers
        assert all(set(line) == {"LineNo", "Product"} for line in order["OrderLines"])


async def test_associate_orders_on_odata(client: httpx.AsyncClient, company_db: Path):
    customer_no = direct(company_db, "SELECT CustNo FROM Ord WHERE CustNo <> 0 LIMIT 1")[0][0]
    response = await client.get(
        "/odata/9999/Associates",
        params={
            "$filter": f"CustomerNo eq {customer_no}",
            "$select": "AssociateNo",
            "$expand": "Orders($select=OrderNo,OrderDate)",
        },
    )
    assert response.status_code == 200, response.text
    (associate,) = response.json()["value"]
    expected = direct(company_db, "SELECT OrdNo FROM Ord WHERE CustNo = ? ORDER BY OrdNo", (customer_no,))
    assert [order["OrderNo"] for order in associate["Orders"]] == [r[0] for r in expected][:1000]
    assert all(order["OrderDate"] is None or order["OrderDate"][4] == "-" for order in associate["Orders"])
    entity = await client.get(
        "/odata/9999/OrderLines(OrderNo=1,LineNo=1)", params={"$expand": "Order($select=OrderDate)"}
    )
    assert entity.status_code == 200, entity.text
    assert entity.json()["Order"]["OrderDate"][4] == "-"  # typed as Edm.Date, like the rest of the root


@pytest.mark.parametrize(
    ("params", "context"),
    [
        ({"$expand": "OrderLines"}, "Orders(OrderLines())"),
        ({"$select": "OrderNo", "$expand": "OrderLines($select=LineNo)"}, "Orders(OrderNo,OrderLines(LineNo))"),
        (
            {"$expand": "OrderLines($select=LineNo;$expand=Product($select=ProductNo))"},
            "Orders(OrderLines(LineNo,Product(ProductNo)))",
        ),
        ({"$expand": "OrderLines($select=*)"}, "Orders(OrderLines())"),
    ],
)
async def test_context_names_the_expanded_navigations(client: httpx.AsyncClient, params: dict[str, str], context: str):
    response = await client.get("/odata/9999/Orders", params={"$top": "1", **params})
    assert response.status_code == 200, response.text
    assert response.json()["@odata.context"] == f"https://testserver/odata/9999/$metadata#{context}"
    entity = await client.get("/odata/9999/Orders(1)", params=params)
    assert entity.status_code == 200, entity.text
    assert entity.json()["@odata.context"] == f"https://testserver/odata/9999/$metadata#{context}/$entity"


@pytest.mark.parametrize(
    "expand",
    [
        "Nope",
        "OrderLines($expand=Product($expand=Supplier))",
        "OrderLines($top=x)",
        "OrderLines($select=Bogus)",
        "OrderLines($filter=LineNo eq 'x')",
        "OrderLines(",
        "OrderLines($skip=1)",
    ],
)
@pytest.mark.parametrize(
    "root", ["/api/9999/orders", "/odata/9999/Orders", "/api/9999/orders/1", "/odata/9999/Orders(1)"]
)
async def test_bad_expand_is_400_naming_it(client: httpx.AsyncClient, root: str, expand: str):
    response = await client.get(root, params={"$expand": expand})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["target"] == "$expand"
