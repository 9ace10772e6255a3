"""Delta links on both roots: after a full pull, only what changed and what was deleted since, each once.

Writes go through the embedded writer to a demo of this module's own, so the shared demo stays as
the other tests read it. Changes stamped in the last `Query.DeltaSettleSeconds` wait for the next
delta, so the tests wait that long after writing before they follow a delta link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import pytest
import sqlglot

from redhorn.query.delta import SETTLE_SECONDS, bound, prefers_tracking
from redhorn.settings import parse_settings
from redhorn.sql import MssqlDialect
from redhorn.sql.sqlite import TOMBSTONES
from redhorn.tools.demo.build import build_demo
from redhorn.writers import tombstones
from tests.conftest import TEST_SCALE, running_client, settings_document

TRACK = {"Prefer": "odata.track-changes, odata.maxpagesize=700"}
# `Query.DeltaSettleSeconds` here: shorter than the default, so the tests wait less.
SETTLE = 0.5


@pytest.fixture(scope="module")
def delta_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("delta")
    build_demo(folder, scale=TEST_SCALE)
    return folder


@pytest.fixture
async def client(delta_folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = parse_settings(json.dumps(settings_document(delta_folder, Query={"DeltaSettleSeconds": SETTLE})))
    async with running_client(settings, delta_folder) as client:
        yield client


async def settle() -> None:
    await asyncio.sleep(SETTLE + 0.2)


async def full_pull(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> tuple[list[Any], str]:
    """Every row through nextLinks, asked to track changes; the delta link of the last page."""
    response = await client.get(url, params=params, headers=TRACK)
    assert response.status_code == 200, response.text
    assert "odata.track-changes" in response.headers["preference-applied"]
    body, rows = response.json(), []
    while True:
        rows.extend(body["value"])
        if "@odata.nextLink" not in body:
            return rows, body["@odata.deltaLink"]
        assert "@odata.deltaLink" not in body, "only the last page carries the delta link"
        body = (await client.get(body["@odata.nextLink"], headers=TRACK)).json()


async def follow(client: httpx.AsyncClient, link: str, page_size: int = 700) -> tuple[list[Any], str, list[Any]]:
    """Every entry of a delta through its nextLinks; the next delta link; the pages' flags."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    entries, flags = [], []
    while True:
        response = await client.get(link, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["value"])
        flags.append(body["@redhorn.deletionsTracked"])
        if "@odata.nextLink" in body:
            link = body["@odata.nextLink"]
            continue
        return entries, body["@odata.deltaLink"], flags


async def test_a_delta_brings_changes_and_deletions_once(client: httpx.AsyncClient, delta_folder: Path):
    rows, link = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo,Name"})
    assert len(rows) == 2000 and list(rows[0]) == ["OrderNo", "Name"]
    assert (await client.patch("/api/9999/orders/1001", json={"Name": "Renamed"})).status_code == 200
    assert (await client.delete("/api/9999/orders/1003")).status_code == 204
    created = await client.post("/api/9999/orders", json={"CustomerNo": 10041})
    assert created.status_code == 201, created.text
    new_number = created.json()["value"]["OrderNo"]
    await settle()
    entries, next_link, flags = await follow(client, link)
    assert flags == [True]
    assert entries[0] == {"@removed": {"reason": "deleted"}, "OrderNo": 1003}
    changed = {entry["OrderNo"]: entry for entry in entries[1:]}
    assert changed[1001] == {"OrderNo": 1001, "Name": "Renamed"}
    assert new_number in changed and 1003 not in changed
    assert set(changed) == {1001, new_number}
    again, _, _ = await follow(client, next_link)
    assert again == [], "nothing changed since: the next delta is empty"


async def test_delta_pages_deliver_every_entry_once(client: httpx.AsyncClient):
    rows, link = await full_pull(client, "/api/9999/orderLines", {"$select": "OrderNo,LineNo,Quantity"})
    lines = [(row["OrderNo"], row["LineNo"]) for row in rows[:12]]
    for order, line in lines[:5]:
        response = await client.patch(f"/api/9999/orderLines/{order}/{line}", json={"Quantity": 7})
        assert response.status_code == 200, response.text
    for order, line in lines[5:9]:
        assert (await client.delete(f"/api/9999/orderLines/{order}/{line}")).status_code == 204
    await settle()
    entries, _, flags = await follow(client, link, page_size=2)
    assert len(flags) >= 4
    removed = [(e["OrderNo"], e["LineNo"]) for e in entries if "@removed" in e]
    changed = [(e["OrderNo"], e["LineNo"]) for e in entries if "@removed" not in e]
    assert removed == lines[5:9]
    assert sorted(changed) == sorted(lines[:5]) and len(changed) == len(set(changed))


async def test_a_change_in_the_settle_window_waits_for_the_next_delta(client: httpx.AsyncClient):
    _, link = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo,Name", "$filter": "OrderNo lt 1100"})
    await settle()
    assert (await client.patch("/api/9999/orders/1010", json={"Name": "Late"})).status_code == 200
    early, next_link, _ = await follow(client, link)
    assert early == [], "stamped after the bound: not in this delta"
    await settle()
    later, _, _ = await follow(client, next_link)
    assert later == [{"OrderNo": 1010, "Name": "Late"}]


async def test_odata_delta_is_typed_with_its_context(client: httpx.AsyncClient):
    rows, link = await full_pull(
        client, "/odata/9999/Orders", {"$select": "OrderNo,OrderDate", "$filter": "OrderNo lt 1050"}
    )
    assert rows[0]["OrderDate"] is None or rows[0]["OrderDate"][4] == "-"
    assert (await client.patch("/api/9999/orders/1020", json={"OrderDate": 20260131})).status_code == 200
    await settle()
    response = await client.get(link)
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#Orders/$delta")
    assert body["value"] == [{"OrderNo": 1020, "OrderDate": "2026-01-31"}]


async def test_a_stream_ends_with_its_delta_link(client: httpx.AsyncClient):
    response = await client.get(
        "/api/9999/orders",
        params={"$select": "OrderNo", "$filter": "OrderNo lt 1010"},
        headers={"Accept": "application/x-ndjson", "Prefer": "odata.track-changes"},
    )
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "odata.track-changes"
    *rows, last = [json.loads(line) for line in response.text.splitlines()]
    assert all(list(row) == ["OrderNo"] for row in rows)
    assert list(last) == ["@odata.deltaLink"]
    await settle()
    entries, _, _ = await follow(client, last["@odata.deltaLink"])
    assert all("@removed" in entry or entry["OrderNo"] < 1010 for entry in entries)


async def test_pruned_deletions_make_an_old_link_gone(client: httpx.AsyncClient, delta_folder: Path):
    _, link = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo", "$filter": "OrderNo lt 1200"})
    assert (await client.delete("/api/9999/orders/1100")).status_code == 204
    with sqlite3.connect(delta_folder / "F9999.db") as connection:
        assert tombstones.prune(connection, older_than=time.time() + 1) > 0
    response = await client.get(link)
    assert response.status_code == 410, response.text
    assert response.json()["error"]["code"] == "DeltaTokenExpired"
    _, fresh = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo", "$filter": "OrderNo lt 1200"})
    await settle()
    assert (await client.get(fresh)).status_code == 200


async def test_without_tombstones_a_delta_says_deletions_are_not_tracked(client: httpx.AsyncClient, delta_folder: Path):
    with sqlite3.connect(delta_folder / "F0001.db") as connection:
        present = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (TOMBSTONES,)).fetchone()[0]
        if present:
            connection.execute(f'DROP TABLE "{TOMBSTONES}"')
    rows, link = await full_pull(client, "/api/1/orders", {"$select": "OrderNo"})
    await settle()
    entries, _, flags = await follow(client, link)
    assert flags == [False] and entries == []


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"$orderby": "OrderNo"}, "$orderby"),
        ({"$top": "5"}, "$top"),
        ({"$count": "true"}, "$count"),
        ({"$expand": "OrderLines"}, "$expand"),
    ],
)
async def test_a_delta_link_takes_no_other_options(client: httpx.AsyncClient, params: dict[str, str], target: str):
    _, link = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo", "$filter": "OrderNo lt 1005"})
    response = await client.get(link + "&" + urlencode(params))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["target"] == target


async def test_an_altered_or_borrowed_token_is_refused(client: httpx.AsyncClient):
    _, link = await full_pull(client, "/api/9999/orders", {"$select": "OrderNo", "$filter": "OrderNo lt 1005"})
    token = link.split("$deltatoken=")[1]
    for url in (
        link[:-2] + ("AA" if not link.endswith("AA") else "BB"),
        f"/api/9999/orders?$select=OrderNo&$deltatoken={token}",  # another $filter
        f"/api/9999/customers?$deltatoken={token}",  # another resource
        "/api/9999/orders?$deltatoken=nonsense",
    ):
        response = await client.get(url)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "InvalidDeltaToken"


async def test_tracking_applies_only_where_asked_and_possible(client: httpx.AsyncClient):
    plain = await client.get("/api/9999/orders", params={"$filter": "OrderNo lt 1005"})
    assert "@odata.deltaLink" not in plain.json() and "preference-applied" not in plain.headers
    # `customers` is a view without change stamps of its own: nothing says what changed in it.
    stampless = await client.get("/api/9999/customers", params={"$top": "3"}, headers=TRACK)
    assert stampless.status_code == 200
    assert "@odata.deltaLink" not in stampless.json()
    assert "odata.track-changes" not in stampless.headers.get("preference-applied", "")


def test_prefer_is_read_as_rfc_7240_says():
    assert prefers_tracking("odata.track-changes")
    assert prefers_tracking("odata.maxpagesize=5, ODATA.TRACK-CHANGES")
    assert not prefers_tracking("odata.maxpagesize=5")
    assert not prefers_tracking(None)


def test_change_tracking_statements_are_t_sql():
    """CHANGETABLE(CHANGES ...) is T-SQL sqlglot does not know; the rest of each statement must parse."""
    dialect = MssqlDialect()
    statements = [
        dialect.deletions_tracked("Ord"),
        dialect.deletion_versions("Ord"),
        dialect.deleted_keys("OrdLn", ("OrdNo", "LnNo"), 5, 9, None, 100),
        dialect.deleted_keys("OrdLn", ("OrdNo", "LnNo"), 5, 9, (6, 1001, 2), 100),
    ]
    for statement in statements:
        assert statement.sql.count("?") == len(statement.params)
        sqlglot.parse_one(statement.sql.replace("CHANGETABLE(CHANGES [dbo].[OrdLn], ?)", "[changes]"), read="tsql")
    assert "SYS_CHANGE_OPERATION = 'D'" in statements[2].sql


def stored(folder: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(folder / "F9999.db") as connection:
        return connection.execute(sql, params).fetchall()


async def test_writes_stamp_the_time_of_day_and_a_line_stamps_its_head(client: httpx.AsyncClient, delta_folder: Path):
    before = dt.datetime.now()
    assert (await client.patch("/api/9999/orders/1030", json={"Name": "Stamped"})).status_code == 200
    day, hhmm, ms = stored(delta_folder, "SELECT ChDt, ChTm, ChTmms FROM Ord WHERE OrdNo = 1030")[0]
    midnight = before.replace(hour=0, minute=0, second=0, microsecond=0)
    assert day == before.year * 10000 + before.month * 100 + before.day
    assert abs(ms - (before - midnight).total_seconds() * 1000) < 5000
    assert hhmm == ms // 60000 // 60 * 100 + ms // 60000 % 60
    line = stored(delta_folder, "SELECT LnNo FROM OrdLn WHERE OrdNo = 1031 ORDER BY LnNo LIMIT 1")[0][0]
    assert (await client.patch(f"/api/9999/orderLines/1031/{line}", json={"Quantity": 3})).status_code == 200
    (head_ms,) = stored(delta_folder, "SELECT ChTmms FROM Ord WHERE OrdNo = 1031")[0]
    (line_ms,) = stored(delta_folder, "SELECT ChTmms FROM OrdLn WHERE OrdNo = 1031 AND LnNo = ?", (line,))[0]
    assert head_ms == line_ms, "the head's total changed with its line: it is stamped with it"


async def test_a_delete_and_its_tombstones_commit_together(client: httpx.AsyncClient, delta_folder: Path):
    count = "SELECT count(*) FROM RedhornTombstones WHERE TableName = ? AND KeyValues = ?"
    refused = await client.delete("/api/9999/orders/1040", headers={"If-Match": '"not-its-tag"'})
    assert refused.status_code == 412
    assert stored(delta_folder, count, ("Ord", "[1040]"))[0][0] == 0
    lines = stored(delta_folder, "SELECT LnNo FROM OrdLn WHERE OrdNo = 1040")
    assert lines, "the demo order has lines"
    assert (await client.delete("/api/9999/orders/1040")).status_code == 204
    assert stored(delta_folder, count, ("Ord", "[1040]"))[0][0] == 1
    for (line,) in lines:
        assert stored(delta_folder, count, ("OrdLn", f"[1040,{line}]"))[0][0] == 1


def test_the_bound_is_the_settle_time_ago_in_the_tables_resolution(delta_folder: Path):
    from redhorn.catalog.crawler import crawl_database
    from redhorn.catalog.dictionary import load_dictionary
    from redhorn.engines.sqlite import SqliteEngine

    async def orders() -> Any:
        engine = SqliteEngine(delta_folder)
        try:
            return (await crawl_database(engine, "F9999", "company", load_dictionary())).table("orders")
        finally:
            await engine.close()

    table = asyncio.run(orders())
    now = dt.datetime(2026, 3, 1, 0, 0, 1, 500_000)
    assert bound(table, now) == (20260228, (23 * 3600 + 59 * 60 + 59) * 1000 + 500)  # across midnight
    assert bound(table, now, settle=0) == (20260301, 1500)
    assert SETTLE_SECONDS == 2.0
    minutes = msgspec.structs.replace(
        table, change_stamps=msgspec.structs.replace(table.change_stamps, changed_time_ms=None)
    )
    assert bound(minutes, dt.datetime(2026, 3, 1, 14, 30, 59)) == (20260301, 1430)
