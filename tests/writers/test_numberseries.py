"""Number series: the next value above everything assigned, never twice, across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from redhorn.errors import NumberSeriesExhausted, NumberSeriesMissing
from redhorn.writers.numberseries import ensure_table, next_number, set_default_interval


def database(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute('CREATE TABLE IF NOT EXISTS "Actor" ("ActNo" INTEGER PRIMARY KEY, "CustNo" INT NOT NULL)')
    ensure_table(connection)
    return connection


def test_the_next_value_is_above_everything_assigned_and_never_reused(tmp_path: Path):
    connection = database(tmp_path / "F1.db")
    connection.executemany("INSERT INTO Actor (CustNo) VALUES (?)", [(10_000,), (0,), (99_999,)])
    set_default_interval(connection, "Actor", "CustNo", (10_000, 10_005), column_no=4045)
    connection.execute("INSERT INTO Actor (CustNo) VALUES (10002)")  # given explicitly, after the series began
    assert next_number(connection, "Actor", "CustNo") == 10_001, "a new series continues after the rows there"
    assert next_number(connection, "Actor", "CustNo") == 10_003, "a value some row holds is stepped over"
    connection.execute("INSERT INTO Actor (CustNo) VALUES (10003)")
    connection.execute("DELETE FROM Actor WHERE CustNo = 10003")
    assert next_number(connection, "Actor", "CustNo") == 10_004, "a value freed by a delete is not handed out"
    assert next_number(connection, "Actor", "CustNo") == 10_005
    with pytest.raises(NumberSeriesExhausted, match="10000-10005"):
        next_number(connection, "Actor", "CustNo")
    assert next_number(connection, "Actor", "CustNo", interval=(20_000, 20_009)) == 20_000, "a user's interval"
    assert next_number(connection, "Actor", "CustNo", interval=(20_000, 20_009)) == 20_001
    with pytest.raises(NumberSeriesMissing):
        next_number(connection, "Actor", "ActNo")


def take_numbers(path: str, count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    connection = database(Path(path))
    taken = []
    for _ in range(count):
        connection.execute("BEGIN IMMEDIATE")
        number = next_number(connection, "Actor", "CustNo", interval=(1, 1_000_000))
        connection.execute("INSERT INTO Actor (CustNo) VALUES (?)", (number,))
        connection.execute("COMMIT")
        taken.append(number)
    queue.put(taken)


def test_concurrent_processes_never_take_the_same_number(tmp_path: Path):
    path = tmp_path / "F1.db"
    database(path).execute("PRAGMA journal_mode = WAL")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=take_numbers, args=(str(path), 50, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    numbers = sorted(number for _ in workers for number in queue.get(timeout=120))
    for worker in workers:
        worker.join(timeout=60)
    assert numbers == list(range(1, 201)), "200 distinct numbers, no gaps"


async def test_idempotency_claims_answers_and_expiry(tmp_path: Path):
    import time

    from redhorn.errors import IdempotencyKeyInUse, IdempotencyKeyReused
    from redhorn.writers.idempotency import Claimed, IdempotencyStore, StoredAnswer

    store = IdempotencyStore(tmp_path / "keys.db", keep_seconds=3600)
    try:
        assert await store.claim("demo\nF9999\nassociates", "k1", b"request") == Claimed()
        with pytest.raises(IdempotencyKeyInUse):
            await store.claim("demo\nF9999\nassociates", "k1", b"request")
        with pytest.raises(IdempotencyKeyReused):
            await store.claim("demo\nF9999\nassociates", "k1", b"another request")
        assert await store.claim("anne\nF9999\nassociates", "k1", b"request") == Claimed(), "keys are per user"
        answer = StoredAnswer(201, b'{"value":{}}', "https://x/api/9999/associates/7", '"tag"')
        await store.store("demo\nF9999\nassociates", "k1", answer)
        assert await store.claim("demo\nF9999\nassociates", "k1", b"request") == answer
        await store.release("anne\nF9999\nassociates", "k1")
        assert await store.claim("anne\nF9999\nassociates", "k1", b"request") == Claimed(), "released for a retry"
    finally:
        await store.close()
    expiring = IdempotencyStore(tmp_path / "keys.db", keep_seconds=0)
    try:
        time.sleep(0.01)
        assert await expiring.claim("demo\nF9999\nassociates", "k1", b"other") == Claimed(), "kept only so long"
    finally:
        await expiring.close()


def test_the_default_interval_and_the_same_interval_given_are_one_series(tmp_path: Path):
    connection = database(tmp_path / "F1.db")
    set_default_interval(connection, "Actor", "CustNo", (500, 599))
    assert next_number(connection, "Actor", "CustNo") == 500
    assert next_number(connection, "Actor", "CustNo", interval=(500, 599)) == 501
    assert next_number(connection, "Actor", "CustNo") == 502
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    assert next_number(connection, "Actor", "CustNo") == 503
    assert len(statements) == 3, "the default's row, the probe of the value, the new mark"
