"""The OData service roots in process, on both engines: the service document, `$metadata`, entity set
pages, counts and entities by key checked against a direct query of the SQLite file; every bad
input of every path answered 4xx in the error shape, with exactly one `OData-Version`."""

from __future__ import annotations

import gzip
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.odata import parser
from tests.conftest import DEMO_USER

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def direct(company_db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(company_db) as connection:
        return connection.execute(sql, params).fetchall()


def odata_date(stored: int) -> str | None:
    return None if not stored else f"{stored // 10000:04d}-{stored // 100 % 100:02d}-{stored % 100:02d}"


def assert_odata(response: httpx.Response) -> None:
    """Exactly one `OData-Version: 4.0`, whatever the answer."""
    assert response.headers.get_list("odata-version") == ["4.0"], response.headers


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert_odata(response)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


# ------------------------------------------------------------------------------ service document


@pytest.mark.parametrize("path", ["/odata/9999/", "/odata/9999"])
async def test_the_service_document_lists_the_entity_sets_with_their_context(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 200
    assert_odata(response)
    assert response.headers["content-type"] == "application/json;odata.metadata=minimal"
    body = response.json()
    assert body["@odata.context"] == "https://testserver/odata/9999/$metadata"
    entries = {entry["name"]: entry for entry in body["value"]}
    assert entries["Orders"] == {"name": "Orders", "kind": "EntitySet", "url": "Orders"}
    assert {"OrderLines", "PriceAndDiscountMatrices", "Associates"} <= set(entries)


@pytest.mark.parametrize("database", ["vbsys", "catalog", "VBSYS"])
async def test_the_company_independent_databases_have_service_roots(client: httpx.AsyncClient, database: str):
    response = await client.get(f"/odata/{database}/")
    assert response.status_code == 200, response.text
    assert response.json()["value"]
    metadata = await client.get(f"/odata/{database}/$metadata")
    assert metadata.status_code == 200 and metadata.headers["content-type"].startswith("application/xml")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/odata/4242/", 404, "CompanyNotFound"),
        ("/odata/5/", 403, "CompanyAccessDenied"),
        ("/odata/nope/", 404, "CompanyNotFound"),
        ("/odata/5/$metadata", 403, "CompanyAccessDenied"),
        ("/odata/5/Orders", 403, "CompanyAccessDenied"),
        ("/odata/9999/?$top=1", 400, "InvalidQuery"),
        ("/odata/9999/?$format=json&$format=json", 400, "InvalidQuery"),
    ],
)
async def test_a_root_that_cannot_be_read_is_refused_in_the_error_shape(client, path, status, code):
    assert_error(await client.get(path), status, code)


@pytest.mark.parametrize(
    "path", ["/odata/9999/", "/odata/9999/$metadata", "/odata/9999/Orders", "/odata/9999/Orders(1)"]
)
async def test_every_odata_path_needs_credentials_and_says_how(client: httpx.AsyncClient, path: str):
    anonymous = await client.get(path, auth=None)
    assert_error(anonymous, 401, "AuthenticationRequired")
    assert "Basic" in anonymous.headers["www-authenticate"]
    wrong = await client.get(path, auth=(DEMO_USER[0], "wrong password"))
    assert_error(wrong, 401, "InvalidCredentials")


async def test_a_bearer_token_reads_the_odata_service_as_basic_does(client: httpx.AsyncClient):
    token = await client.post(
        "/api/oauth/token", data={"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    response = await client.get("/odata/9999/Orders?$top=1", auth=None, headers=headers)
    assert response.status_code == 200 and response.json()["value"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_the_odata_service_is_read_only(client: httpx.AsyncClient, method: str):
    response = await client.request(method, "/odata/9999/Orders(1)", json={})
    assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"] == "GET, HEAD"


# ------------------------------------------------------------------------------------- $metadata


async def test_metadata_is_csdl_xml_with_types_keys_and_capabilities(client: httpx.AsyncClient):
    response = await client.get("/odata/9999/$metadata")
    assert response.status_code == 200
    assert_odata(response)
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == "Visma.Business"
    order = schema.find(f"{EDM}EntityType[@Name='Order']")
    assert order is not None
    assert [ref.get("Name") for ref in order.findall(f"{EDM}Key/{EDM}PropertyRef")] == ["OrderNo"]
    properties = {p.get("Name"): p for p in order.findall(f"{EDM}Property")}
    assert properties["OrderDate"].get("Type") == "Edm.Date" and properties["OrderDate"].get("Nullable") is None
    assert properties["OrderNo"].get("Nullable") == "false"
    assert properties["Name"].get("Type") == "Edm.String" and properties["Name"].get("MaxLength") == "80"
    described = properties["OrderType"].find(f"{EDM}Annotation[@Term='Org.OData.Core.V1.Description']")
    assert described is not None and "1 = NormalOrder" in (described.get("String") or "")
    line = schema.find(f"{EDM}EntityType[@Name='OrderLine']")
    assert line is not None
    amount = line.find(f"{EDM}Property[@Name='AmountInCurrency']")
    assert amount is not None and amount.get("Type") == "Edm.Decimal"
    assert amount.get("Precision") == "28" and amount.get("Scale") == "6"
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None
    sets = {s.get("Name"): s for s in container.findall(f"{EDM}EntitySet")}
    assert sets["Orders"].get("EntityType") == "Visma.Business.Order"
    assert sets["PriceAndDiscountMatrices"].get("EntityType") == "Visma.Business.PriceAndDiscountMatrix"
    functions = container.find(f"{EDM}Annotation[@Term='Org.OData.Capabilities.V1.FilterFunctions']")
    assert functions is not None
    assert [s.text for s in functions.iter(f"{EDM}String")] == list(parser.FUNCTIONS)
    terms = {a.get("Term") for a in sets["Orders"].findall(f"{EDM}Annotation")}
    assert "Org.OData.Capabilities.V1.ExpandRestrictions" in terms
    assert (
        b"Org.OData.Aggregation.V1.ApplySupported" in response.content
        and b"<String>groupby</String>" in response.content
    )


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"$format": "json"}, {}), ({"$format": "application/json"}, {}), ({}, {"Accept": "application/json"})],
)
async def test_metadata_is_csdl_json_when_asked(client: httpx.AsyncClient, params, headers):
    response = await client.get("/odata/9999/$metadata", params=params, headers=headers)
    assert response.status_code == 200
    assert_odata(response)
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["$Version"] == "4.0" and document["$EntityContainer"] == "Visma.Business.Container"
    order = document["Visma.Business"]["Order"]
    assert order["$Key"] == ["OrderNo"] and order["OrderDate"]["$Type"] == "Edm.Date"
    assert document["Visma.Business"]["Container"]["Orders"]["$Type"] == "Visma.Business.Order"


async def test_metadata_is_cached_with_an_etag_and_served_gzipped(client: httpx.AsyncClient):
    first = await client.get("/odata/9999/$metadata")
    again = await client.get("/odata/9999/$metadata", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_odata(again)
    raw = await client.get("/odata/9999/$metadata", headers={"Accept-Encoding": "gzip"})
    assert raw.headers.get("content-encoding") == "gzip"
    assert raw.content == first.content  # httpx decoded it
    assert len(gzip.compress(first.content)) < len(first.content)


@pytest.mark.parametrize(
    "query", ["$format=atom", "$top=1", "$filter=OrderNo eq 1", "$format=xml&$format=xml", "$expand=Lines"]
)
async def test_metadata_refuses_options_it_does_not_take(client: httpx.AsyncClient, query: str):
    assert_error(await client.get(f"/odata/9999/$metadata?{query}"), 400, "InvalidQuery")


# ------------------------------------------------------------------------------- entity set reads


async def test_a_page_of_orders_has_context_typed_values_and_matches_sqlite(client, company_db):
    response = await client.get("/odata/9999/Orders", params={"$top": "5", "$count": "true"})
    assert response.status_code == 200
    assert_odata(response)
    assert response.headers["content-type"] == "application/json;odata.metadata=minimal"
    body = response.json()
    assert list(body) == ["@odata.context", "@odata.count", "value"]
    assert body["@odata.context"] == "https://testserver/odata/9999/$metadata#Orders"
    assert body["@odata.count"] == direct(company_db, "SELECT COUNT(*) FROM Ord")[0][0]
    expected = direct(company_db, "SELECT OrdNo, Nm, OrdDt FROM Ord ORDER BY OrdNo LIMIT 5")
    assert [(r["OrderNo"], r["Name"], r["OrderDate"]) for r in body["value"]] == [
        (number, name, odata_date(date)) for number, name, date in expected
    ]


async def test_the_api_root_keeps_its_stored_values(client: httpx.AsyncClient, company_db: Path):
    body = (await client.get("/api/9999/orders", params={"$top": "1"})).json()
    assert "@odata.context" not in body
    assert isinstance(body["value"][0]["OrderDate"], int)


async def test_a_zero_date_is_null_and_times_are_times_of_day(client: httpx.AsyncClient, company_db: Path):
    zero = direct(company_db, "SELECT OrdNo FROM Ord WHERE DelDt = 0 ORDER BY OrdNo LIMIT 1")
    if zero:
        row = (await client.get(f"/odata/9999/Orders({zero[0][0]})")).json()
        assert row["DeliveryDate"] is None
    times = direct(company_db, "SELECT FrTm FROM Agr ORDER BY 1 LIMIT 1")
    response = await client.get(
        "/odata/9999/Appointments", params={"$top": "1", "$select": "FromTime", "$orderby": "FromTime"}
    )
    assert response.status_code == 200
    assert response.json()["@odata.context"].endswith("$metadata#Appointments(FromTime)")
    if times:
        stored = times[0][0]
        assert response.json()["value"][0]["FromTime"] == f"{stored // 100:02d}:{stored % 100:02d}:00"


async def test_next_links_walk_every_row_once_with_skiptokens(client: httpx.AsyncClient, company_db: Path):
    seen: list[int] = []
    url: str | None = "/odata/9999/orders?$select=OrderNo&$filter=OrderNo le 1000"
    pages = 0
    while url is not None:
        response = await client.get(url, headers={"Prefer": "odata.maxpagesize=300"})
        assert response.status_code == 200, response.text
        assert_odata(response)
        assert response.headers["preference-applied"] == "odata.maxpagesize=300"
        body = response.json()
        assert body["@odata.context"] == "https://testserver/odata/9999/$metadata#Orders(OrderNo)"
        seen.extend(row["OrderNo"] for row in body["value"])
        url = body.get("@odata.nextLink")
        if url is not None:
            assert url.startswith("https://testserver/odata/9999/orders?") and "$skiptoken=" in url
        pages += 1
    assert pages == 4
    assert seen == [row[0] for row in direct(company_db, "SELECT OrdNo FROM Ord WHERE OrdNo <= 1000 ORDER BY OrdNo")]


async def test_count_is_plain_text_and_takes_a_filter(client: httpx.AsyncClient, company_db: Path):
    response = await client.get("/odata/9999/Orders/$count", params={"$filter": "CustomerNo gt 12000"})
    assert response.status_code == 200
    assert_odata(response)
    assert response.headers["content-type"].startswith("text/plain")
    assert int(response.text) == direct(company_db, "SELECT COUNT(*) FROM Ord WHERE CustNo > 12000")[0][0]


async def test_an_order_by_key_is_an_entity_with_its_context(client: httpx.AsyncClient, company_db: Path):
    response = await client.get("/odata/9999/Orders(1001)")
    assert response.status_code == 200
    assert_odata(response)
    body = response.json()
    assert next(iter(body)) == "@odata.context"
    assert body["@odata.context"] == "https://testserver/odata/9999/$metadata#Orders/$entity"
    number, name, date = direct(company_db, "SELECT OrdNo, Nm, OrdDt FROM Ord WHERE OrdNo = 1001")[0]
    assert (body["OrderNo"], body["Name"], body["OrderDate"]) == (number, name, odata_date(date))


async def test_an_entity_carries_the_tag_api_gives_the_row(client: httpx.AsyncClient):
    """Read on /odata, write through /api with If-Match: both roots name a row's version alike."""
    api = await client.get("/api/9999/orders/1001")
    odata = await client.get("/odata/9999/Orders(1001)", params={"$select": "OrderNo"})
    assert odata.status_code == 200, odata.text
    # A compressed answer's tag is weak (another representation of the same row): the same version.
    assert odata.headers["etag"].removeprefix("W/") == api.headers["etag"].removeprefix("W/")
    assert odata.json()["@odata.etag"] == odata.headers["etag"].removeprefix("W/")
    again = await client.get("/odata/9999/Orders(1001)", headers={"If-None-Match": api.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = await client.get("/odata/9999/Orders(1001)", headers={"If-None-Match": '"another"'})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["OrderLines(OrderNo=1001,LineNo=2)", "OrderLines(LineNo=2,OrderNo=1001)", "orderlines(orderno=1001, lineno=2)"],
)
async def test_a_composite_key_is_named_in_any_order(client: httpx.AsyncClient, company_db: Path, path: str):
    response = await client.get(f"/odata/9999/{path}", params={"$select": "OrderNo,LineNo,AmountInCurrency"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#OrderLines(OrderNo,LineNo,AmountInCurrency)/$entity")
    amount = direct(company_db, "SELECT Am FROM OrdLn WHERE OrdNo = 1001 AND LnNo = 2")[0][0]
    assert (body["OrderNo"], body["LineNo"], body["AmountInCurrency"]) == (1001, 2, amount)


async def test_a_string_key_is_quoted_with_doubled_quotes(client: httpx.AsyncClient, company_db: Path):
    product = direct(company_db, "SELECT ProdNo FROM Prod ORDER BY ProdNo LIMIT 1")[0][0]
    found = await client.get(f"/odata/9999/Products('{product}')")
    assert found.status_code == 200 and found.json()["ProductNo"] == product
    missing = await client.get("/odata/9999/Products('A''B')")
    assert_error(missing, 404, "RowNotFound")


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("Orders(abc)", 400, "InvalidKey"),
        ("Orders(1", 400, "InvalidKey"),
        ("Orders()", 400, "InvalidKey"),
        ("Orders(1,2)", 400, "InvalidKey"),
        ("Orders('1001')", 400, "InvalidKey"),
        ("Orders(1.5)", 400, "InvalidKey"),
        ("Orders(99999999999999999999)", 400, "InvalidKey"),
        ("Orders(OrderNo=)", 400, "InvalidKey"),
        ("Orders(Nope=1)", 400, "InvalidKey"),
        ("Orders(999999999)", 404, "RowNotFound"),
        ("OrderLines(1001)", 400, "InvalidKey"),
        ("OrderLines(1001,2)", 400, "InvalidKey"),
        ("OrderLines(OrderNo=1001)", 400, "InvalidKey"),
        ("OrderLines(OrderNo=1001,OrderNo=2)", 400, "InvalidKey"),
        ("OrderLines(OrderNo=1001,Nope=2)", 400, "InvalidKey"),
        ("OrderLines(OrderNo=1001,LineNo=2,Extra=3)", 400, "InvalidKey"),
        ("Products(1)", 400, "InvalidKey"),
        ("Products('unterminated)", 400, "InvalidKey"),
        ("Products('a'b')", 400, "InvalidKey"),
        ("Orders(1001)/Name", 404, "NotFound"),
        ("Orders(1001)(2)", 404, "NotFound"),
        ("Orders/foo", 404, "NotFound"),
        ("Orders/$count/more", 404, "NotFound"),
        ("$batch", 404, "NotFound"),
        ("Nope", 404, "ResourceNotFound"),
        ("Nope(1)", 404, "ResourceNotFound"),
        ("Orders?$foo=1", 400, "InvalidQuery"),
        ("Orders?$expand=Lines", 400, "InvalidQuery"),
        ("Orders?$apply=groupby((NoSuchProperty))", 400, "InvalidQuery"),
        ("Orders?$top=-1", 400, "InvalidQuery"),
        ("Orders?$filter=Nope eq 1", 400, "InvalidQuery"),
        ("Orders?$select=Nope", 400, "InvalidQuery"),
        ("Orders?$orderby=Nope", 400, "InvalidQuery"),
        ("Orders?$skiptoken=forged", 400, "InvalidSkipToken"),
        ("Orders/$count?$filter=Nope eq 1", 400, "InvalidQuery"),
        ("Orders(1001)?$top=1", 400, "InvalidQuery"),
        ("Orders(1001)?$select=Nope", 400, "InvalidQuery"),
    ],
)
async def test_bad_input_is_a_4xx_in_the_error_shape_never_a_500(client, path: str, status: int, code: str):
    assert_error(await client.get(f"/odata/9999/{path}"), status, code)


async def test_a_url_of_2048_characters_is_answered(client: httpx.AsyncClient):
    prefix = "/odata/9999/Orders?$filter=Name eq '"
    url = prefix + "x" * (2048 - len("https://testserver") - len(prefix) - 1) + "'"
    assert len("https://testserver" + url) == 2048
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == []


# ----------------------------------------------------------------------- attacks, each a fix proven


async def test_attack_a_quote_in_a_string_key_cannot_leave_the_string(client: httpx.AsyncClient):
    """`'x'' or 1=1 --'` is one string value with a quote in it, never SQL: no row has that key."""
    assert_error(await client.get("/odata/9999/Products('x'' or ''1''=''1')"), 404, "RowNotFound")


async def test_attack_an_encoded_slash_or_parenthesis_inside_a_quoted_key_stays_in_the_key(client):
    """The path is scanned with OData's quoting, not split on `/` or `)`."""
    for key in ("'a%2Fb'", "'a)b'", "'a/b'", "'a,b=c'"):
        assert_error(await client.get(f"/odata/9999/Products({key})"), 404, "RowNotFound")


async def test_attack_a_key_of_thousands_of_parts_is_refused_before_it_is_typed(client: httpx.AsyncClient):
    assert_error(await client.get("/odata/9999/OrderLines(" + ",".join(["1"] * 1500) + ")"), 400, "InvalidKey")


async def test_attack_deeply_nested_parentheses_are_refused_at_once(client: httpx.AsyncClient):
    assert_error(await client.get("/odata/9999/Orders" + "(" * 1500 + "1" + ")" * 1500), 400, "InvalidKey")


async def test_attack_a_nul_byte_or_control_characters_in_a_key_are_no_500(client: httpx.AsyncClient):
    for key in ("'%00'", "%00", "'%0A'", "'\u00e6\u00f8\u00e5'"):
        response = await client.get(f"/odata/9999/Products({key})")
        assert response.status_code in (400, 404), response.text
        assert_odata(response)


async def test_attack_an_api_skiptoken_for_another_query_is_refused_on_odata(client: httpx.AsyncClient):
    """Tokens are bound to their query and user: one made for another `$filter` does not page this one."""
    first = (
        await client.get(
            "/api/9999/orders?$filter=OrderNo le 10&$select=OrderNo", headers={"Prefer": "odata.maxpagesize=2"}
        )
    ).json()
    token = first["@odata.nextLink"].split("$skiptoken=")[1]
    response = await client.get(f"/odata/9999/Orders?$filter=OrderNo le 11&$select=OrderNo&$skiptoken={token}")
    assert_error(response, 400, "InvalidSkipToken")
