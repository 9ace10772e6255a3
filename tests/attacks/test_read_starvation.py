"""Finding 9: one read connection per database, and no limit on waiting for it: heavy legal queries
made a GET by key on the same company wait 16.5 s. (Figures under load: `make bench` starvation.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import DatabaseBusy, QueryTimeout
from redhorn.sql.statement import Statement

ENDLESS = Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
BY_KEY = Statement('SELECT "OrdNo" FROM "Ord" WHERE "OrdNo" = ?', (7,))


async def test_a_read_by_key_never_waits_behind_scans_and_scans_wait_a_bounded_time(demo_folder: Path):
    engine = SqliteEngine(demo_folder, pool_size=1, wait_seconds=0.5)
    scan = asyncio.create_task(engine.fetch("F9999", ENDLESS, timeout=5))
    try:
        await asyncio.sleep(0.2)  # the scan holds the only scan connection
        started = time.monotonic()
        assert [tuple(row) for row in await engine.fetch("F9999", BY_KEY, lane="lookup")] == [(7,)]
        assert time.monotonic() - started < 0.4, "the lookup lane has a connection of its own"
        started = time.monotonic()
        with pytest.raises(DatabaseBusy) as raised:
            await engine.fetch("F9999", BY_KEY)
        assert 0.4 < time.monotonic() - started < 2, "refused once its wait is over, not queued without end"
        assert raised.value.status == 503 and raised.value.response_headers()["Retry-After"] == "1"
    finally:
        scan.cancel()
        with pytest.raises((asyncio.CancelledError, QueryTimeout)):
            await scan
        await engine.close()
    assert [tuple(row) for row in await engine.fetch("F9999", BY_KEY)] == [(7,)], "the scan lane is free again"
    await engine.close()
