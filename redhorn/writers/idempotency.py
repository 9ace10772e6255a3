"""`Idempotency-Key` on POST: a retried create gets the first answer instead of a second row.

A client that lost the answer to a create (a timeout, a dropped connection) cannot tell whether
the row was made; sending the same request again with the same key is then safe. Answers are
kept in a SQLite file that every worker process of the installation shares:

    RedhornIdempotency(Scope, IdempotencyKey, Fingerprint, CreatedAt, Status, Location, ETag, Body)
    primary key (Scope, IdempotencyKey)

`Scope` is the user, database and resource, so one user's key never answers another's request;
`Fingerprint` is a digest of the request (method, path, query and body), so a key reused for a
different request is refused (422) rather than answered with a stale row. A key is claimed
(`Status` 0) before the write starts, so a retry that arrives while the first attempt runs is
told so (409) and does not write twice. Claims whose write failed are dropped so the retry runs.

A claim is never freed by time alone: a process may have died after its write committed and
before its answer was stored. A retry of a claim older than `Writes.IdempotencyPendingSeconds`
takes it over (`Resumed`) and the caller asks the writer what happened: the embedded writer keeps
a receipt in the write's own transaction (`receipts.py`), so it answers from the receipt or writes
now. A writer that cannot tell (VBS) leaves the claim `Status` -1, outcome unknown: every retry is
409 `IdempotencyOutcomeUnknown` until an operator resolves it (`resolve`). Answers are kept for
`Writes.IdempotencyKeySeconds`.

`IdempotencyRecords` is what the write endpoints use; `IdempotencyStore` keeps the records in the
SQLite file (the workers of one host), `idempotency_redis.RedisIdempotencyStore` in Redis (the hosts
of a cluster, `Cluster.RedisUrl`), with the same states and answers.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from abc import ABC, abstractmethod
from pathlib import Path

import msgspec

from redhorn.errors import IdempotencyKeyInUse, IdempotencyKeyReused, IdempotencyOutcomeUnknown
from redhorn.writers.sqlite_writer import SqliteWriter

TABLE = "RedhornIdempotency"
PENDING = 0
OUTCOME_UNKNOWN = -1
MAX_KEY_LENGTH = 255


class Claimed(msgspec.Struct, frozen=True):
    """The key is this request's now: write."""


class Resumed(msgspec.Struct, frozen=True):
    """The key was claimed by an attempt that never finished; it is this request's now. Ask the
    writer whether that attempt committed before writing again."""


class StoredAnswer(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    location: str | None = None
    etag: str | None = None


def _create(connection: sqlite3.Connection) -> None:
    connection.execute(
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("Scope" TEXT NOT NULL, "IdempotencyKey" TEXT NOT NULL, '
        '"Fingerprint" BLOB NOT NULL, "CreatedAt" REAL NOT NULL, "Status" INT NOT NULL, "Location" TEXT, '
        '"ETag" TEXT, "Body" BLOB, PRIMARY KEY ("Scope", "IdempotencyKey"))'
    )


def fingerprint(*parts: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def outcome_unknown(key: str) -> IdempotencyOutcomeUnknown:
    """The 409 for a key whose first write may or may not have happened (see the README)."""
    return IdempotencyOutcomeUnknown(
        f"Whether the first request with Idempotency-Key {key!r} was written is unknown: it never finished. "
        "An operator must check Visma Business and resolve the key ('redhorn idempotency').",
        target="Idempotency-Key",
    )


def receipt_of(scope: str, key: str) -> str:
    """The receipt a keyed write records in the company database: a digest, naming no user or key."""
    return fingerprint(b"receipt", scope.encode("utf-8"), key.encode("utf-8")).hex()


class IdempotencyRecords(ABC):
    """The answers to keyed creates, wherever they are kept (see the module's text for the states)."""

    keep_seconds: int
    pending_seconds: float

    @abstractmethod
    async def claim(self, scope: str, key: str, request_digest: bytes) -> StoredAnswer | Claimed | Resumed:
        """The stored answer for this key; else the key, claimed for this request.

        Raises:
            IdempotencyKeyReused: the key came before with a different request.
            IdempotencyKeyInUse: the first request with the key is still running.
            IdempotencyOutcomeUnknown: the first request's write may have happened; no one can tell.
            WriterUnavailable: the records cannot be reached.
        """

    @abstractmethod
    async def mark_unknown(self, scope: str, key: str) -> None:
        """The claim's write may have happened and no one can tell: hold the key until an operator looks."""

    @abstractmethod
    async def unresolved(self) -> list[tuple[str, str, float]]:
        """The keys whose outcome is unknown: (scope, key, when claimed), oldest first."""

    @abstractmethod
    async def resolve(self, key: str) -> int:
        """Free a key whose outcome was unknown, once an operator has checked it; how many were freed."""

    @abstractmethod
    async def store(self, scope: str, key: str, answer: StoredAnswer) -> None:
        """Keep the answer of a claimed key for `keep_seconds`."""

    @abstractmethod
    async def release(self, scope: str, key: str) -> None:
        """Drop a claim whose write failed, so that a retry runs it again."""

    @abstractmethod
    async def close(self) -> None: ...


class IdempotencyStore(IdempotencyRecords):
    """The records in a SQLite file that every worker of the host shares."""

    def __init__(self, path: Path, keep_seconds: int, busy_timeout: float = 10.0, pending_seconds: float = 300) -> None:
        self.keep_seconds = keep_seconds
        self.pending_seconds = pending_seconds
        self._writer = SqliteWriter(path, busy_timeout, _create, create=True)

    async def claim(self, scope: str, key: str, request_digest: bytes) -> StoredAnswer | Claimed | Resumed:
        """The stored answer for this key; else the key, claimed for this request.

        Raises:
            IdempotencyKeyReused: the key came before with a different request.
            IdempotencyKeyInUse: the first request with the key is still running.
            IdempotencyOutcomeUnknown: the first request's write may have happened; no one can tell.
        """

        def work(connection: sqlite3.Connection) -> StoredAnswer | Claimed | Resumed:
            now = time.time()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    f'DELETE FROM "{TABLE}" WHERE "Status" > 0 AND "CreatedAt" < ?', (now - self.keep_seconds,)
                )
                row = connection.execute(
                    f'SELECT "Fingerprint", "Status", "Body", "Location", "ETag", "CreatedAt" FROM "{TABLE}" '
                    'WHERE "Scope" = ? AND "IdempotencyKey" = ?',
                    (scope, key),
                ).fetchone()
                answer: StoredAnswer | Claimed | Resumed
                if row is None:
                    connection.execute(
                        f'INSERT INTO "{TABLE}" ("Scope", "IdempotencyKey", "Fingerprint", "CreatedAt", "Status") '
                        "VALUES (?, ?, ?, ?, 0)",
                        (scope, key, request_digest, now),
                    )
                    answer = Claimed()
                elif bytes(row[0]) != request_digest:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used before for a different request", target="Idempotency-Key"
                    )
                elif row[1] == OUTCOME_UNKNOWN:
                    raise outcome_unknown(key)
                elif row[1] == PENDING and row[5] >= now - self.pending_seconds:
                    raise IdempotencyKeyInUse(
                        "The first request with this Idempotency-Key is still running; try again shortly",
                        target="Idempotency-Key",
                        retry_after=1,
                    )
                elif row[1] == PENDING:  # its attempt never finished: taken over, for the caller to look
                    connection.execute(
                        f'UPDATE "{TABLE}" SET "CreatedAt" = ? WHERE "Scope" = ? AND "IdempotencyKey" = ?',
                        (now, scope, key),
                    )
                    answer = Resumed()
                else:
                    answer = StoredAnswer(int(row[1]), bytes(row[2]), row[3], row[4])
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return answer

        return await self._writer.run(work)

    async def mark_unknown(self, scope: str, key: str) -> None:
        """The claim's write may have happened and no one can tell: hold the key until an operator looks."""

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                f'UPDATE "{TABLE}" SET "Status" = ? WHERE "Scope" = ? AND "IdempotencyKey" = ? AND "Status" = 0',
                (OUTCOME_UNKNOWN, scope, key),
            )

        await self._writer.run(work)

    async def unresolved(self) -> list[tuple[str, str, float]]:
        """The keys whose outcome is unknown: (scope, key, when claimed), oldest first."""

        def work(connection: sqlite3.Connection) -> list[tuple[str, str, float]]:
            rows = connection.execute(
                f'SELECT "Scope", "IdempotencyKey", "CreatedAt" FROM "{TABLE}" WHERE "Status" = ? ORDER BY 3',
                (OUTCOME_UNKNOWN,),
            ).fetchall()
            return [(str(scope), str(key), float(at)) for scope, key, at in rows]

        return await self._writer.run(work)

    async def resolve(self, key: str) -> int:
        """Free a key whose outcome was unknown, once an operator has checked it; how many were freed."""

        def work(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                f'DELETE FROM "{TABLE}" WHERE "IdempotencyKey" = ? AND "Status" = ?', (key, OUTCOME_UNKNOWN)
            )
            return int(cursor.rowcount)

        return await self._writer.run(work)

    async def store(self, scope: str, key: str, answer: StoredAnswer) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                f'UPDATE "{TABLE}" SET "Status" = ?, "Body" = ?, "Location" = ?, "ETag" = ?, "CreatedAt" = ? '
                'WHERE "Scope" = ? AND "IdempotencyKey" = ?',
                (answer.status, answer.body, answer.location, answer.etag, time.time(), scope, key),
            )

        await self._writer.run(work)

    async def release(self, scope: str, key: str) -> None:
        """Drop a claim whose write failed, so that a retry runs it again."""

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                f'DELETE FROM "{TABLE}" WHERE "Scope" = ? AND "IdempotencyKey" = ? AND "Status" = 0', (scope, key)
            )

        await self._writer.run(work)

    async def close(self) -> None:
        await self._writer.close()
