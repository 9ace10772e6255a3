"""The Idempotency-Key store on its own: what a second request with a key is told, in every state
the first one can have left the key in."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redhorn.errors import IdempotencyKeyInUse, IdempotencyKeyReused, IdempotencyOutcomeUnknown
from redhorn.writers.idempotency import TABLE, Claimed, IdempotencyStore, Resumed, StoredAnswer, fingerprint

SCOPE = "demo\nF9999\norders"
REQUEST = fingerprint(b"POST", b"/api/9999/orders", b'{"Name": "x"}')


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IdempotencyStore]:
    made = IdempotencyStore(tmp_path / "writes.db", keep_seconds=3600, pending_seconds=300)
    yield made
    await made.close()


def age(store: IdempotencyStore, seconds: float) -> None:
    """Make every claim and answer of the store `seconds` older, as if that time had passed."""
    with sqlite3.connect(store._writer.path) as connection:
        connection.execute(f'UPDATE "{TABLE}" SET "CreatedAt" = "CreatedAt" - ?', (seconds,))
    connection.close()


def test_fingerprints_tell_apart_requests_whose_parts_are_split_differently():
    assert fingerprint(b"ab", b"c") != fingerprint(b"a", b"bc")
    assert fingerprint(b"ab", b"c") == fingerprint(b"ab", b"c")
    assert len(fingerprint()) == 16


async def test_the_first_request_claims_the_key_and_a_retry_gets_its_answer(store: IdempotencyStore):
    assert await store.claim(SCOPE, "k", REQUEST) == Claimed()
    answer = StoredAnswer(201, b'{"OrderNo": 7}', "/api/9999/orders/7", '"etag"')
    await store.store(SCOPE, "k", answer)
    assert await store.claim(SCOPE, "k", REQUEST) == answer
    assert await store.claim("other\nF9999\norders", "k", REQUEST) == Claimed(), "keys are per user and resource"


async def test_a_key_reused_for_another_request_is_refused(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    with pytest.raises(IdempotencyKeyReused):
        await store.claim(SCOPE, "k", fingerprint(b"POST", b"/api/9999/orders", b'{"Name": "y"}'))


async def test_a_retry_while_the_first_request_runs_is_told_to_wait(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    with pytest.raises(IdempotencyKeyInUse) as raised:
        await store.claim(SCOPE, "k", REQUEST)
    assert raised.value.retry_after == 1


async def test_a_claim_whose_attempt_never_finished_is_taken_over_once(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    age(store, 301)
    assert await store.claim(SCOPE, "k", REQUEST) == Resumed()
    with pytest.raises(IdempotencyKeyInUse):
        await store.claim(SCOPE, "k", REQUEST)


async def test_a_key_whose_outcome_is_unknown_waits_for_an_operator_however_old(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    await store.mark_unknown(SCOPE, "k")
    age(store, 10 * 3600)
    with pytest.raises(IdempotencyOutcomeUnknown, match="'k' was written is unknown"):
        await store.claim(SCOPE, "k", REQUEST)
    assert [(scope, key) for scope, key, _ in await store.unresolved()] == [(SCOPE, "k")]
    assert await store.resolve("k") == 1
    assert await store.claim(SCOPE, "k", REQUEST) == Claimed(), "resolved, the key writes again"


async def test_only_a_pending_claim_becomes_unknown_and_only_an_unknown_one_is_resolved(store: IdempotencyStore):
    answer = StoredAnswer(201, b"{}")
    await store.claim(SCOPE, "k", REQUEST)
    await store.store(SCOPE, "k", answer)
    await store.mark_unknown(SCOPE, "k")
    assert await store.unresolved() == []
    assert await store.resolve("k") == 0
    assert await store.claim(SCOPE, "k", REQUEST) == answer


async def test_a_released_claim_lets_the_retry_write(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    await store.release(SCOPE, "k")
    assert await store.claim(SCOPE, "k", REQUEST) == Claimed()


async def test_answers_are_forgotten_after_the_keep_time(store: IdempotencyStore):
    await store.claim(SCOPE, "k", REQUEST)
    await store.store(SCOPE, "k", StoredAnswer(201, b"{}"))
    age(store, 3601)
    assert await store.claim(SCOPE, "k", fingerprint(b"another request")) == Claimed()
