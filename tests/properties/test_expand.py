"""Random `$expand` requests: every expanded navigation equals the separate read it stands for, on both engines."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings, strategies as st

LINE_PROPERTIES = ["LineNo", "ProductNo", "Quantity", "PriceInCurrency"]


async def read_all(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.integers(1, 1990),
    count=st.integers(1, 12),
    select=st.lists(st.sampled_from(LINE_PROPERTIES), min_size=1, max_size=3, unique=True),
    order=st.sampled_from(["", "LineNo desc", "Quantity,LineNo", "ProductNo desc"]),
    top=st.one_of(st.none(), st.integers(0, 4)),
    line_filter=st.sampled_from(["", "LineNo ge 2", "Quantity gt 3"]),
    root=st.sampled_from(["api", "odata"]),
)
async def test_expanded_lines_and_customer_equal_separate_reads(
    client: httpx.AsyncClient,
    first: int,
    count: int,
    select: list[str],
    order: str,
    top: int | None,
    line_filter: str,
    root: str,
) -> None:
    nested = [f"$select={','.join(select)}"]
    if order:
        nested.append(f"$orderby={order}")
    if top is not None:
        nested.append(f"$top={top}")
    if line_filter:
        nested.append(f"$filter={line_filter}")
    base, lines_url, customers = (
        ("/api/9999/orders", "/api/9999/orderlines", "/api/9999/associates")
        if root == "api"
        else ("/odata/9999/Orders", "/odata/9999/OrderLines", "/odata/9999/Associates")
    )
    orders = await read_all(
        client,
        base,
        {
            "$filter": f"OrderNo ge {first} and OrderNo lt {first + count}",
            "$select": "OrderNo,CustomerNo",
            "$expand": f"OrderLines({';'.join(nested)}),Customer($select=AssociateNo,Name)",
        },
    )
    for order_row in orders:
        params = {"$filter": f"OrderNo eq {order_row['OrderNo']}", "$select": ",".join(select)}
        if line_filter:
            params["$filter"] += f" and {line_filter}"
        if order:
            params["$orderby"] = order
        if top is not None:
            params["$top"] = str(top)
        assert order_row["OrderLines"] == await read_all(client, lines_url, params)
        customer = await read_all(
            client,
            customers,
            {"$filter": f"CustomerNo eq {order_row['CustomerNo']}", "$select": "AssociateNo,Name", "$top": "1"},
        )
        expected = customer[0] if customer and order_row["CustomerNo"] else None
        assert order_row["Customer"] == expected
