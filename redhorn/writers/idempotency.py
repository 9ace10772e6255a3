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
told so (409) and does not write twice. Claims whose write failed are dropped so the retry runs;
claims of a process that died are dropped after `PENDING_SECONDS`. Answers are kept for
`Writes.IdempotencyKeySeconds`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import msgspec

from redhorn.writers.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from redhorn.writers.sqlite_writer import SqliteWriter

TABLE = "RedhornIdempotency"
PENDING_SECONDS = 300
MAX_KEY_LENGTH = 255


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


class IdempotencyStore:
    def __init__(self, path: Path, keep_seconds: int, busy_timeout: float = 10.0) -> None:
        self.keep_seconds = keep_seconds
        self._writer = SqliteWriter(path, busy_timeout, _create, create=True)

    async def claim(self, scope: str, key: str, request_digest: bytes) -> StoredAnswer | None:
        """The stored answer for this key, or None after claiming the key for a new write.

        Raises:
            IdempotencyKeyReused: the key came before with a different request.
            IdempotencyKeyInUse: the first request with the key is still running.
        """

        def work(connection: sqlite3.Connection) -> StoredAnswer | None:
            now = time.time()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    f'DELETE FROM "{TABLE}" WHERE ("Status" <> 0 AND "CreatedAt" < ?) '
                    'OR ("Status" = 0 AND "CreatedAt" < ?)',
                    (now - self.keep_seconds, now - PENDING_SECONDS),
                )
                row = connection.execute(
                    f'SELECT "Fingerprint", "Status", "Body", "Location", "ETag" FROM "{TABLE}" '
                    'WHERE "Scope" = ? AND "IdempotencyKey" = ?',
                    (scope, key),
                ).fetchone()
                if row is None:
                    connection.execute(
                        f'INSERT INTO "{TABLE}" ("Scope", "IdempotencyKey", "Fingerprint", "CreatedAt", "Status") '
                        "VALUES (?, ?, ?, ?, 0)",
                        (scope, key, request_digest, now),
                    )
                    answer = None
                elif bytes(row[0]) != request_digest:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used before for a different request", target="Idempotency-Key"
                    )
                elif row[1] == 0:
                    raise IdempotencyKeyInUse(
                        "The first request with this Idempotency-Key is still running; try again shortly",
                        target="Idempotency-Key",
                        headers={"Retry-After": "1"},
                    )
                else:
                    answer = StoredAnswer(int(row[1]), bytes(row[2]), row[3], row[4])
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return answer

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
