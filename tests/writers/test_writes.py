"""Writes over HTTP: assignment order, business rules, nested lines, number series, keys, ETags.

Each test runs with the embedded executor and again through the VBS transport and the emulator.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from redhorn.writers.rules import CENT
from tests.writers.conftest import USER_CUSTOMER_INTERVAL, WriteSetup

pytestmark = pytest.mark.usefixtures("write_setup")


async def a_customer(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/9999/associates", params={"$filter": "CustomerNo gt 0", "$top": "1"})
    return dict(response.json()["value"][0])


async def a_product(client: httpx.AsyncClient, skip: int = 0) -> dict[str, Any]:
    response = await client.get("/api/9999/products", params={"$top": "1", "$skip": str(skip), "$orderby": "ProductNo"})
    return dict(response.json()["value"][0])


async def count(client: httpx.AsyncClient, resource: str, where: str | None = None) -> int:
    params = {"$filter": where} if where else None
    response = await client.get(f"/api/9999/{resource}/$count", params=params)
    return int(response.text)


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return dict(response.json()["error"])


async def test_writes_go_through_the_configured_writer(writer_client: httpx.AsyncClient, write_setup: WriteSetup):
    response = await writer_client.post("/api/9999/associates", json={"Name": "Routed"})
    assert response.status_code == 201, response.text
    if write_setup.emulator_log is None:
        assert write_setup.document["VismaConnection"]["VbsEndpointAddress"] == ""
    else:
        assert 'POST /GenericService/redhorn HTTP/1.1" 200' in write_setup.emulator_log.read_text()


async def test_properties_are_assigned_in_body_order(writer_client: httpx.AsyncClient):
    customer = await a_customer(writer_client)
    number = customer["CustomerNo"]
    first = await writer_client.post("/api/9999/orders", json={"Name": "X", "CustomerNo": number})
    assert first.status_code == 201, first.text
    assert first.json()["value"]["Name"] == customer["Name"], "CustomerNo came last and filled the name in"
    second = await writer_client.post("/api/9999/orders", json={"CustomerNo": number, "Name": "X"})
    assert second.status_code == 201, second.text
    order = second.json()["value"]
    assert order["Name"] == "X", "Name came after CustomerNo and overrides it"
    assert (order["AddressLine1"], order["PostCode"], order["CurrencyNo"], order["PaymentTerms"]) == (
        customer["AddressLine1"],
        customer["PostCode"],
        customer["CurrencyNo"],
        customer["PaymentTerms"],
    )
    currency = (await writer_client.get(f"/api/9999/currencies/{customer['CurrencyNo']}")).json()
    assert order["ExchangeRate"] == currency["ExchangeRate"], "the rate of the customer's currency"
    assert order["OrderDate"] == 0 and order["InvoiceNo"] == "", "columns not given are Visma's 'not set'"
    messages = second.json()["messages"]
    assert any("filled in from customer" in m["text"] and m["severity"] == "info" for m in messages)


async def test_an_order_with_nested_lines_is_one_write(writer_client: httpx.AsyncClient):
    customer = await a_customer(writer_client)
    products = [await a_product(writer_client, skip) for skip in (0, 1, 2)]
    lines = [
        {"ProductNo": products[0]["ProductNo"], "Quantity": 3},
        {"ProductNo": products[1]["ProductNo"], "Quantity": 2.5, "PriceInCurrency": 10},
        {"Quantity": 4, "ProductNo": products[2]["ProductNo"], "Description": "Own text"},
    ]
    response = await writer_client.post(
        "/api/9999/orders", json={"CustomerNo": customer["CustomerNo"], "OrderLines": lines}
    )
    assert response.status_code == 201, response.text
    order = response.json()["value"]
    written = order.pop("OrderLines")
    assert [line["LineNo"] for line in written] == [1, 2, 3]
    assert all(line["OrderNo"] == order["OrderNo"] for line in written)
    assert written[0]["Description"] == products[0]["Description"], "the product's description"
    assert written[2]["Description"] == "Own text", "Description came after ProductNo and overrides it"
    assert written[1]["PriceInCurrency"] == 10 and written[1]["AmountInCurrency"] == 25
    for line in written:
        expected = Decimal(str(line["Quantity"])) * Decimal(str(line["PriceInCurrency"]))
        expected *= 1 - Decimal(str(line["DiscountPercent1"])) / 100
        assert Decimal(str(line["AmountInCurrency"])) == expected.quantize(CENT)
        assert line["PriceInCurrency"] > 0 and line["Unit"] == next(
            p["DefaultSalesUnits"] for p in products if p["ProductNo"] == line["ProductNo"]
        )
    total = sum(Decimal(str(line["AmountInCurrency"])) for line in written)
    assert Decimal(str(order["OrderSumInCurrency"])) == total, "the head's total follows its lines"
    location = response.headers["location"]
    assert location.endswith(f"/api/9999/orders/{order['OrderNo']}")
    again = await writer_client.get(location)
    assert again.json() == order and again.headers["etag"] == response.headers["etag"]
    assert await count(writer_client, "orderlines", f"OrderNo eq {order['OrderNo']}") == 3


async def test_a_failing_line_fails_its_whole_order(writer_client: httpx.AsyncClient):
    customer = await a_customer(writer_client)
    product = await a_product(writer_client)
    orders, lines = await count(writer_client, "orders"), await count(writer_client, "orderlines")
    body = {
        "CustomerNo": customer["CustomerNo"],
        "OrderLines": [{"ProductNo": product["ProductNo"], "Quantity": 1}, {"ProductNo": "NO-SUCH-PRODUCT"}],
    }
    response = await writer_client.post("/api/9999/orders", json=body)
    assert response.status_code == 422, response.text
    assert error_of(response)["target"] == "ProductNo"
    assert (await count(writer_client, "orders"), await count(writer_client, "orderlines")) == (orders, lines)


async def test_an_array_is_created_all_or_nothing(writer_client: httpx.AsyncClient):
    before = await count(writer_client, "associates")
    bad = await writer_client.post("/api/9999/associates", json=[{"Name": "A"}, {"Name": "B", "CountryNo": "x"}])
    assert bad.status_code == 422 and error_of(bad)["target"] == "CountryNo"
    assert await count(writer_client, "associates") == before
    good = await writer_client.post("/api/9999/associates", json=[{"Name": "A"}, {"Name": "B"}])
    assert good.status_code == 201, good.text
    created = good.json()["value"]
    assert [row["Name"] for row in created] == ["A", "B"]
    assert created[1]["AssociateNo"] == created[0]["AssociateNo"] + 1
    assert await count(writer_client, "associates") == before + 2


async def test_number_series_for_keys_and_for_properties_asked_for(writer_client: httpx.AsyncClient):
    highest = await writer_client.get("/api/9999/associates", params={"$orderby": "AssociateNo desc", "$top": "1"})
    top = highest.json()["value"][0]["AssociateNo"]
    first = await writer_client.post("/api/9999/associates?$numberSeries=CustomerNo,SupplierNo", json={"Name": "N"})
    assert first.status_code == 201, first.text
    row = first.json()["value"]
    assert row["AssociateNo"] > top, "the key from the company's series, above every number in use"
    low, high = USER_CUSTOMER_INTERVAL
    assert low <= row["CustomerNo"] <= high, "CustomerNo from the user's own interval (column 4045)"
    assert 50_000 <= row["SupplierNo"] <= 59_999, "SupplierNo from the company's default interval"
    deleted = await writer_client.delete(f"/api/9999/associates/{row['AssociateNo']}")
    assert deleted.status_code == 204
    second = await writer_client.post("/api/9999/associates?$numberseries=customerno", json={"Name": "M"})
    assert second.json()["value"]["CustomerNo"] == row["CustomerNo"] + 1, "a deleted row's number is not reused"
    assert second.json()["value"]["AssociateNo"] == row["AssociateNo"] + 1


async def test_an_exhausted_interval_is_409_naming_it(write_setup: WriteSetup):
    from tests.conftest import running_client

    users = write_setup.document["ApiUsers"] + [
        {
            "Username": "small",
            "Password": "small-password",
            "AccessibleCompanies": [
                {
                    "CompanyNo": 9999,
                    "NumberSerieIntervals": [{"ColumnNo": 4045, "IntervalFrom": 39_000, "IntervalTo": 39_001}],
                }
            ],
        }
    ]
    settings = write_setup.settings(ApiUsers=users)
    async with running_client(settings, write_setup.folder, auth=("small", "small-password")) as client:
        numbers = []
        for _ in range(2):
            response = await client.post("/api/9999/associates?$numberSeries=CustomerNo", json={"Name": "S"})
            assert response.status_code == 201, response.text
            numbers.append(response.json()["value"]["CustomerNo"])
        assert numbers == [39_000, 39_001]
        exhausted = await client.post("/api/9999/associates?$numberSeries=CustomerNo", json={"Name": "S"})
        assert exhausted.status_code == 409
        error = error_of(exhausted)
        assert error["code"] == "NumberSeriesExhausted" and "39000-39001" in error["message"]


async def test_updates_assign_in_order_and_keys_never_change(writer_client: httpx.AsyncClient):
    customer = await a_customer(writer_client)
    created = await writer_client.post("/api/9999/orders", json={"Name": "Before"})
    order_no = created.json()["value"]["OrderNo"]
    path = f"/api/9999/orders/{order_no}"
    renamed = await writer_client.patch(path, json={"Name": "After", "YourReference": "Ref"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["value"]["Name"], renamed.json()["value"]["YourReference"]) == ("After", "Ref")
    refilled = await writer_client.put(path, json={"OrderNo": order_no, "CustomerNo": customer["CustomerNo"]})
    assert refilled.status_code == 200 and refilled.json()["value"]["Name"] == customer["Name"]
    assert (await writer_client.get(path)).json() == refilled.json()["value"]
    changed_key = await writer_client.put(path, json={"OrderNo": order_no + 100_000})
    assert changed_key.status_code == 409 and error_of(changed_key) == {
        "code": "KeyImmutable",
        "message": error_of(changed_key)["message"],
        "target": "OrderNo",
    }
    missing = await writer_client.patch("/api/9999/orders/99999999", json={"Name": "X"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "RowNotFound"


async def test_a_line_change_moves_its_amount_and_the_order_total(writer_client: httpx.AsyncClient):
    product = await a_product(writer_client)
    line = {"ProductNo": product["ProductNo"], "Quantity": 1, "PriceInCurrency": 7}
    created = await writer_client.post("/api/9999/orders", json={"OrderLines": [line]})
    order_no = created.json()["value"]["OrderNo"]
    changed = await writer_client.patch(f"/api/9999/orderlines/{order_no}/1", json={"Quantity": 3})
    assert changed.status_code == 200, changed.text
    assert changed.json()["value"]["AmountInCurrency"] == 21
    assert (await writer_client.get(f"/api/9999/orders/{order_no}")).json()["OrderSumInCurrency"] == 21
    added = await writer_client.post(
        "/api/9999/orderlines", json={"OrderNo": order_no, "ProductNo": product["ProductNo"], "Quantity": 1}
    )
    assert added.status_code == 201, added.text
    assert added.json()["value"]["LineNo"] == 2, "a line added on its own is numbered within its order"
    price = added.json()["value"]["AmountInCurrency"]
    assert (await writer_client.get(f"/api/9999/orders/{order_no}")).json()["OrderSumInCurrency"] == pytest.approx(
        21 + price
    )
    assert (await writer_client.delete(f"/api/9999/orderlines/{order_no}/1")).status_code == 204
    head = (await writer_client.get(f"/api/9999/orders/{order_no}")).json()
    assert head["OrderSumInCurrency"] == pytest.approx(price)
    orphan = await writer_client.post("/api/9999/orderlines", json={"OrderNo": 99_999_999, "ProductNo": "x"})
    assert orphan.status_code == 422 and error_of(orphan)["target"] == "OrderNo"


async def test_deleting_an_order_deletes_its_lines(writer_client: httpx.AsyncClient):
    product = await a_product(writer_client)
    line = {"ProductNo": product["ProductNo"]}
    created = await writer_client.post("/api/9999/orders", json={"OrderLines": [line, line]})
    order_no = created.json()["value"]["OrderNo"]
    deleted = await writer_client.delete(f"/api/9999/orders/{order_no}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await writer_client.get(f"/api/9999/orders/{order_no}")).status_code == 404
    assert await count(writer_client, "orderlines", f"OrderNo eq {order_no}") == 0
    again = await writer_client.delete(f"/api/9999/orders/{order_no}")
    assert again.status_code == 404 and error_of(again)["code"] == "RowNotFound"


async def test_etags_stop_lost_updates(writer_client: httpx.AsyncClient):
    created = await writer_client.post("/api/9999/associates", json={"Name": "Tagged"})
    path = created.headers["location"]
    first_tag = created.headers["etag"]
    read = await writer_client.get(path)
    assert read.headers["etag"] == first_tag
    assert (await writer_client.get(path, headers={"If-None-Match": first_tag})).status_code == 304
    updated = await writer_client.patch(path, json={"Name": "Mine"}, headers={"If-Match": first_tag})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] != first_tag
    stale = await writer_client.patch(path, json={"Name": "Theirs"}, headers={"If-Match": first_tag})
    assert stale.status_code == 412 and error_of(stale)["code"] == "PreconditionFailed"
    assert (await writer_client.get(path)).json()["Name"] == "Mine"
    stale_delete = await writer_client.delete(path, headers={"If-Match": first_tag})
    assert stale_delete.status_code == 412
    assert (await writer_client.patch(path, json={"Name": "Any"}, headers={"If-Match": "*"})).status_code == 200
    current = (await writer_client.get(path)).headers["etag"]
    assert (await writer_client.delete(path, headers={"If-Match": current})).status_code == 204


async def test_idempotency_key_replays_the_first_answer(writer_client: httpx.AsyncClient):
    before = await count(writer_client, "associates")
    headers = {"Idempotency-Key": "create-associate-7f3a"}
    first = await writer_client.post("/api/9999/associates", json={"Name": "Once"}, headers=headers)
    second = await writer_client.post("/api/9999/associates", json={"Name": "Once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content and first.headers["location"] == second.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert await count(writer_client, "associates") == before + 1
    reused = await writer_client.post("/api/9999/associates", json={"Name": "Other"}, headers=headers)
    assert reused.status_code == 422 and error_of(reused)["code"] == "IdempotencyKeyReused"
    failed = await writer_client.post(
        "/api/9999/associates", json={"AssociateNo": 1}, headers={"Idempotency-Key": "fails-first"}
    )
    assert failed.status_code == 409, "the writer refused it after the key was claimed"
    retried = await writer_client.post(
        "/api/9999/associates", json={"Name": "fits"}, headers={"Idempotency-Key": "fails-first"}
    )
    assert retried.status_code == 201, "a failed write leaves its key free for the retry"
    bad_key = await writer_client.post("/api/9999/associates", json={"Name": "k"}, headers={"Idempotency-Key": ""})
    assert bad_key.status_code == 400


async def test_extension_tables_and_columns_are_writable(writer_client: httpx.AsyncClient):
    body = {"RouteNo": 900, "Nm": "Harbour", "CapacityKg": 10.5}
    route = await writer_client.post("/api/9999/acme_delroute", json=body)
    assert route.status_code == 201, route.text
    assert route.json()["value"] == body | {"DriverEmpNo": 0, "WeekDays": ""}
    duplicate = await writer_client.post("/api/9999/acme_delroute", json={"RouteNo": 900})
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "DuplicateKey"
    keyless = await writer_client.post("/api/9999/acme_delroute", json={"Nm": "No number"})
    assert keyless.status_code == 422 and error_of(keyless) == {
        "code": "MissingValue",
        "message": error_of(keyless)["message"],
        "target": "RouteNo",
    }
    segment = await writer_client.post("/api/9999/associates", json={"Name": "Seg", "ACME_Segment": "Retail"})
    assert segment.json()["value"]["ACME_Segment"] == "Retail"
    cleared = await writer_client.patch(segment.headers["location"], json={"ACME_Segment": None})
    assert cleared.status_code == 200 and cleared.json()["value"]["ACME_Segment"] is None


BAD_BODIES = [
    ("application/json", b'{"Name": ', 400, "MalformedBody", None),
    ("text/plain", b'{"Name": "x"}', 415, "UnsupportedMediaType", None),
    (None, b'{"Name": "x"}', 415, "UnsupportedMediaType", None),
    ("application/json", b'{"Nope": 1}', 422, "UnknownProperty", "Nope"),
    ("application/json", b'{"Name": 5}', 422, "InvalidValue", "Name"),
    ("application/json", b'{"Name": "' + b"x" * 81 + b'"}', 422, "InvalidValue", "Name"),
    ("application/json", b'{"CountryNo": 3000000000}', 422, "InvalidValue", "CountryNo"),
    ("application/json", b'{"CountryNo": 1.5}', 422, "InvalidValue", "CountryNo"),
    ("application/json", b'{"CreatedDate": 20261341}', 422, "InvalidValue", "CreatedDate"),
    ("application/json", b'{"AssociateNo": 1}', 409, "DuplicateKey", None),
    ("application/json", b"[]", 400, "MalformedBody", None),
    ("application/json", b"[1]", 400, "MalformedBody", None),
    ("application/json", b'"text"', 400, "MalformedBody", None),
    ("application/json", b'{"Name": "' + b"x" * 200_001 + b'"}', 413, "BodyTooLarge", None),
]


@pytest.mark.parametrize(("content_type", "body", "status", "code", "target"), BAD_BODIES)
async def test_bad_bodies_are_refused_with_their_code(writer_client, content_type, body, status, code, target):
    before = await count(writer_client, "associates")
    headers = {"Content-Type": content_type} if content_type else {}
    response = await writer_client.post("/api/9999/associates", content=body, headers=headers)
    assert (response.status_code, error_of(response)["code"]) == (status, code), response.text
    assert error_of(response).get("target") == target
    assert await count(writer_client, "associates") == before


async def test_decimal_places_beyond_the_scale_are_refused(writer_client: httpx.AsyncClient):
    response = await writer_client.post("/api/9999/acme_delroute", json={"RouteNo": 901, "CapacityKg": 1.234})
    assert response.status_code == 422 and error_of(response)["target"] == "CapacityKg"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/api/vbsys/companies", 405, "ReadOnlyResource"),
        ("POST", "/api/catalog/modeltables", 405, "ReadOnlyResource"),
        ("PATCH", "/api/vbsys/companies/9999", 405, "ReadOnlyResource"),
        ("POST", "/api/9999/customers", 405, "ReadOnlyResource"),
        ("POST", "/api/5/associates", 403, "CompanyAccessDenied"),
        ("DELETE", "/api/5/associates/1", 403, "CompanyAccessDenied"),
        ("POST", "/api/9999/nothing", 404, "ResourceNotFound"),
        ("POST", "/api/9999/associates/1", 405, "MethodNotAllowed"),
        ("PUT", "/api/9999/associates", 405, "MethodNotAllowed"),
        ("DELETE", "/api/9999/associates", 405, "MethodNotAllowed"),
        ("PATCH", "/api/9999/associates/x", 400, "InvalidKey"),
        ("PATCH", "/api/9999/orderlines/1", 400, "InvalidKey"),
        ("POST", "/api/9999/associates?$numberSeries=Name", 400, "InvalidQuery"),
        ("POST", "/api/9999/associates?$numberSeries=Nope", 400, "InvalidQuery"),
        ("POST", "/api/9999/associates?$top=1", 400, "InvalidQuery"),
        ("DELETE", "/api/9999/associates/1?$select=Name", 400, "InvalidQuery"),
    ],
)
async def test_writes_that_are_refused_before_the_body(writer_client, method, path, status, code):
    response = await writer_client.request(method, path, json={"Name": "x"})
    assert (response.status_code, error_of(response)["code"]) == (status, code), response.text


async def test_writes_need_authentication(write_setup: WriteSetup):
    from tests.conftest import running_client

    async with running_client(write_setup.settings(), write_setup.folder, auth=None) as anonymous:
        response = await anonymous.post("/api/9999/associates", json={"Name": "x"})
    assert response.status_code == 401 and error_of(response)["code"] == "AuthenticationRequired"


async def test_rows_with_text_keys_and_visma_dates(writer_client: httpx.AsyncClient):
    product = await a_product(writer_client, skip=5)
    path = f"/api/9999/products/{product['ProductNo']}"
    changed = await writer_client.patch(path, json={"Information2": "Kept dry"})
    assert changed.status_code == 200, changed.text
    row = changed.json()["value"]
    assert row["Information2"] == "Kept dry" and row["ProductNo"] == product["ProductNo"]
    assert row["ChangedDate"] >= product["ChangedDate"] and row["ChangedDate"] > 20260000, "Visma's change date"
    lower = await writer_client.put(path.lower(), json={"ProductNo": product["ProductNo"], "Information4": "x"})
    assert lower.status_code == 200, "keys match without regard to case, as Visma's do"
    same = await writer_client.patch(path, json={"ProductNo": product["ProductNo"].lower()})
    assert same.status_code == 200 and same.json()["value"]["ProductNo"] == product["ProductNo"]


async def test_a_request_creates_at_most_the_configured_rows(writer_client: httpx.AsyncClient):
    response = await writer_client.post("/api/9999/associates", json=[{"Name": str(n)} for n in range(1001)])
    assert response.status_code == 413 and error_of(response)["code"] == "BodyTooLarge"
    lines = [{"ProductNo": "x"}] * 1000
    nested = await writer_client.post("/api/9999/orders", json={"OrderLines": lines})
    assert nested.status_code == 413, "the order and its lines count together"


async def test_a_customer_gets_their_own_price_and_discount(writer_client: httpx.AsyncClient):
    own = await writer_client.get(
        "/api/9999/priceanddiscountmatrices",
        params={"$filter": "CustomerNo gt 0 and ToDate eq 0 and FromDate le 20261128", "$orderby": "LineNo desc"},
    )
    prices = own.json()["value"]
    assert prices, "the demo has customers' own prices"
    price = prices[0]
    same = [p for p in prices if (p["CustomerNo"], p["ProductNo"]) == (price["CustomerNo"], price["ProductNo"])]
    chosen = max(same, key=lambda p: (p["FromDate"], p["LineNo"]))
    body = {
        "CustomerNo": price["CustomerNo"],
        "OrderDate": 20261128,
        "OrderLines": [{"ProductNo": price["ProductNo"], "Quantity": 2}],
    }
    response = await writer_client.post("/api/9999/orders", json=body)
    assert response.status_code == 201, response.text
    line = response.json()["value"]["OrderLines"][0]
    assert (line["PriceInCurrency"], line["DiscountPercent1"]) == (
        chosen["SalesPrice1InCurrency"],
        chosen["SalesDiscountPercent"],
    )
    general = await writer_client.get(
        "/api/9999/priceanddiscountmatrices",
        params={"$filter": f"CustomerNo eq 0 and ProductNo eq '{price['ProductNo']}'"},
    )
    today = int(dt.date.today().strftime("%Y%m%d"))
    rows = general.json()["value"]
    valid = [p for p in rows if p["FromDate"] <= today and (p["ToDate"] == 0 or p["ToDate"] >= today)]
    expected = max(valid, key=lambda p: (p["FromDate"], p["LineNo"]))
    other = await writer_client.post("/api/9999/orders", json={"OrderLines": [{"ProductNo": price["ProductNo"]}]})
    line = other.json()["value"]["OrderLines"][0]
    assert line["PriceInCurrency"] == expected["SalesPrice1InCurrency"], "no customer: the latest general price"
