"""Finding 7: one explicit key blocked a number series for everyone; keys of 0 and 2^63-1 were taken."""

from __future__ import annotations

import httpx
import pytest

from tests.test_error_shape import assert_error_shape


async def test_an_explicit_key_at_the_top_of_the_series_blocks_no_one(writing_client: httpx.AsyncClient):
    top = await writing_client.post("/api/9999/orders", json={"OrderNo": 99_999_999, "CustomerNo": 0})
    assert top.status_code == 201, top.text
    for _ in range(3):
        numbered = await writing_client.post("/api/9999/orders", json={"Name": "After the top"})
        assert numbered.status_code == 201, numbered.text
        assert numbered.json()["value"]["OrderNo"] < 99_999_999
    explicit = await writing_client.post("/api/9999/associates", json={"AssociateNo": 2_000_000_000, "Name": "Far"})
    assert explicit.status_code == 201
    after = await writing_client.post("/api/9999/associates", json={"Name": "Near"})
    assert after.status_code == 201 and after.json()["value"]["AssociateNo"] < 2_000_000_000


@pytest.mark.parametrize("key", [0, -1, 2**31, 2**63 - 1])
async def test_a_key_outside_what_numbers_a_row_is_422(writing_client: httpx.AsyncClient, key: int):
    response = await writing_client.post("/api/9999/associates", json={"AssociateNo": key, "Name": "Edge"})
    assert_error_shape(response, 422, "InvalidValue")
    assert response.json()["error"]["target"] == "AssociateNo"


async def test_swaggers_default_bodies_leave_numbered_keys_out(writing_client: httpx.AsyncClient):
    document = (await writing_client.get("/swagger/v1/swagger.json?company=9999")).json()
    schemas = document["components"]["schemas"]
    assert "AssociateNo" not in schemas["AssociateWrite"]["example"]
    assert "Name" in schemas["AssociateWrite"]["example"]
    assert "OrderNo" not in schemas["OrderWrite"]["example"]
    assert not {"OrderNo", "LineNo"} & set(schemas["OrderLineWrite"]["example"])
