"""Orders whose lines are looked up and read back in batches answer as line-by-line writes and GETs do.

Each test runs with the embedded executor and again through the VBS transport and the emulator.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.writers.test_writes import a_customer, a_product, count, error_of

pytestmark = pytest.mark.usefixtures("write_setup")

# What a line takes from its product and price list, and what follows from them.
FROM_PRODUCT = ("Description", "Unit", "PriceInCurrency", "DiscountPercent1", "AmountInCurrency")


async def an_order(client: httpx.AsyncClient, body: dict[str, Any] | list[dict[str, Any]]) -> Any:
    response = await client.post("/api/9999/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()["value"]


async def test_lines_repeating_products_get_what_a_line_of_its_own_gets(writer_client: httpx.AsyncClient):
    customer = (await a_customer(writer_client))["CustomerNo"]
    products = [(await a_product(writer_client, skip))["ProductNo"] for skip in (0, 1)]
    names = [products[0], products[1], products[0], products[0].lower(), products[1]]
    lines = [{"ProductNo": name, "Quantity": 2} for name in names]
    order = await an_order(writer_client, {"CustomerNo": customer, "OrderLines": lines})
    for name, line in zip(names, order["OrderLines"], strict=True):
        alone = await an_order(
            writer_client, {"CustomerNo": customer, "OrderLines": [{"ProductNo": name, "Quantity": 2}]}
        )
        assert {p: line[p] for p in FROM_PRODUCT} == {p: alone["OrderLines"][0][p] for p in FROM_PRODUCT}
        assert line["ProductNo"] == name


async def test_a_missing_product_among_repeated_ones_fails_the_order_naming_it(writer_client: httpx.AsyncClient):
    customer = (await a_customer(writer_client))["CustomerNo"]
    product = (await a_product(writer_client))["ProductNo"]
    orders, lines = await count(writer_client, "orders"), await count(writer_client, "orderlines")
    names = [product, product, "NO-SUCH-PRODUCT", product]
    body = {"CustomerNo": customer, "OrderLines": [{"ProductNo": name, "Quantity": 1} for name in names]}
    response = await writer_client.post("/api/9999/orders", json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert (error["code"], error["target"]) == ("InvalidValue", "ProductNo")
    assert "NO-SUCH-PRODUCT" in error["message"]
    assert (await count(writer_client, "orders"), await count(writer_client, "orderlines")) == (orders, lines)


async def test_line_numbers_continue_after_the_highest_given(writer_client: httpx.AsyncClient):
    product = (await a_product(writer_client))["ProductNo"]
    lines = [{"ProductNo": product}, {"LineNo": 10, "ProductNo": product}, {"ProductNo": product}]
    order = await an_order(writer_client, {"OrderLines": lines})
    assert [line["LineNo"] for line in order["OrderLines"]] == [1, 10, 11]
    added = await writer_client.post("/api/9999/orderlines", json={"OrderNo": order["OrderNo"], "ProductNo": product})
    assert added.status_code == 201, added.text
    assert added.json()["value"]["LineNo"] == 12


async def test_an_array_of_orders_answers_as_gets_of_each_order_and_its_lines(writer_client: httpx.AsyncClient):
    customer = (await a_customer(writer_client))["CustomerNo"]
    products = [(await a_product(writer_client, skip))["ProductNo"] for skip in (0, 1, 2)]
    body = [
        {"CustomerNo": customer, "OrderLines": [{"ProductNo": products[0], "Quantity": 1}]},
        {"CustomerNo": customer, "OrderLines": [{"ProductNo": p, "Quantity": n} for n, p in enumerate(products)]},
        {"CustomerNo": customer},
    ]
    created = await an_order(writer_client, body)
    assert [len(order["OrderLines"]) for order in created] == [1, 3, 0]
    for order in created:
        lines = order.pop("OrderLines")
        assert (await writer_client.get(f"/api/9999/orders/{order['OrderNo']}")).json() == order
        listed = await writer_client.get(
            "/api/9999/orderlines", params={"$filter": f"OrderNo eq {order['OrderNo']}", "$orderby": "LineNo"}
        )
        assert listed.json()["value"] == lines
