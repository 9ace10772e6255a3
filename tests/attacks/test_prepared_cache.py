"""Finding 17: the prepared-statement cache keyed on the raw query string and counted only entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from redhorn.query.prepared import PreparedCache
from redhorn.settings import parse_settings
from tests.conftest import running_client, settings_document


def cache_of(client: httpx.AsyncClient) -> PreparedCache:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    cache: PreparedCache = app.state.redhorn.prepared
    return cache


async def test_parameters_redhorn_ignores_do_not_make_new_cache_entries(demo_folder: Path):
    settings = parse_settings(json.dumps(settings_document(demo_folder, "sqlite")))
    async with running_client(settings, demo_folder) as client:
        for number in range(300):
            junk = f"{number:05d}" + "j" * 7000
            response = await client.get(f"/api/9999/orders?$top=3&junk={junk}")
            assert response.status_code == 200
        assert len(cache_of(client)) == 1, "one entry for one set of $-options"


async def test_the_cache_stays_within_its_bytes_whatever_distinct_requests_arrive(demo_folder: Path):
    settings = parse_settings(json.dumps(settings_document(demo_folder, "sqlite")))
    async with running_client(settings, demo_folder) as client:
        cache = cache_of(client)
        cache.max_bytes = 400_000
        long_text = "x" * 3500
        for number in range(400):
            response = await client.get(
                "/api/9999/orders", params={"$filter": f"Name eq '{long_text}{number}'", "$top": "1"}
            )
            assert response.status_code == 200, response.text
        assert cache.bytes <= cache.max_bytes and len(cache) < 400
        assert cache.bytes == sum(cost for _entry, cost in cache._entries.values())
