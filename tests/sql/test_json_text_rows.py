"""Rows whose JSON the driver hands over as text (SQL Server's nvarchar) answer what rows as bytes answer.

SQLite's JSON normally reaches redhorn as bytes (a BLOB); SQL Server's FOR JSON as a str. Here the
embedded database is made to hand its JSON over as text (`CAST(... AS TEXT)`), and every reader that
splices rows (lists, by key, `$expand`, exports, the `/odata` root) must answer the same bytes as with
the JSON as bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from redhorn.metadata import Column
from redhorn.sql.dialect import Dialect
from redhorn.sql.sqlite import SqliteDialect
from tests.conftest import running_client

PATHS = [
    "/api/9999/orders?$top=30&$count=true&$select=OrderNo,Name,OrderDate",
    "/api/9999/orderlines?$top=40",
    "/api/9999/orders?$top=4&$expand=OrderLines($select=LineNo,ProductNo,AmountInCurrency)",
    "/api/9999/orderlines?$top=3&$select=OrderNo,LineNo&$expand=Order($select=OrderNo,Name)",
    "/api/9999/orderlines?$top=200&$format=ndjson",
    "/api/9999/orders/{order}",
    "/api/9999/orders/{order}?$select=Name&$expand=OrderLines",
    "/odata/9999/Orders?$top=5&$select=OrderNo,Name",
    "/odata/9999/Orders({order})",
]


def _as_text(self: Dialect, columns: tuple[Column, ...]) -> tuple[str, list[Any]]:
    sql, params = Dialect.json_row(self, columns)
    return f"CAST({sql} AS TEXT)", params


async def _answers(settings_factory, demo_folder: Path) -> dict[str, tuple[int, bytes]]:
    answers: dict[str, tuple[int, bytes]] = {}
    async with running_client(settings_factory(), demo_folder) as client:
        order = (await client.get("/api/9999/orders?$top=1&$select=OrderNo")).json()["value"][0]["OrderNo"]
        for path in PATHS:
            response = await client.get(path.format(order=order))
            answers[path] = (response.status_code, response.content)
    return answers


async def test_rows_read_as_text_answer_the_same_bytes(settings_factory, demo_folder: Path, monkeypatch):
    as_bytes = await _answers(settings_factory, demo_folder)
    seen: list[type] = []
    original = SqliteDialect.json_row_bytes

    def recording(self: Dialect, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        seen.extend({type(row[0]) for row in rows})
        return original(self, rows)

    monkeypatch.setattr(SqliteDialect, "json_row", _as_text)
    monkeypatch.setattr(SqliteDialect, "json_row_bytes", recording)
    as_text = await _answers(settings_factory, demo_folder)
    assert str in seen and bytes not in seen, "the JSON reached the readers as text"
    for path in PATHS:
        assert as_text[path][0] == 200, path
        assert as_text[path] == as_bytes[path], path
    assert sum(len(body) for _, body in as_text.values()) > 20_000


@pytest.mark.parametrize("rows", [[], [(b"{}", 1)]], ids=["no-rows", "bytes"])
def test_rows_of_bytes_are_not_copied(rows: list[tuple[Any, ...]]):
    assert SqliteDialect().json_row_bytes(rows) is rows
