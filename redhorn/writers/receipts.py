"""Write receipts: proof, in the company database, that a write with an `Idempotency-Key` committed.

The answers to keyed writes live in a store of their own (`idempotency.py`), outside the company
database; a process killed after the write committed and before its answer was stored used to leave
the key claimed, then freed by time, and the retry wrote the rows again. The embedded writer now
records a receipt in the write's own transaction:

    RedhornWriteReceipts(Receipt, CreatedAt, Result)   primary key (Receipt)

`Receipt` is a digest of the key and its scope; `Result` is the write's result (the keys of the rows
it made). The receipt and the rows commit together or not at all, so a retry after a crash finds
either both (and answers from the receipt) or neither (and may write). Two attempts racing with one
key cannot both commit: the second receipt breaks the primary key and its transaction rolls back.
"""

from __future__ import annotations

import sqlite3
import time

import msgspec

from redhorn.errors import IdempotencyKeyInUse
from redhorn.writers.model import WriteResult

TABLE = "RedhornWriteReceipts"
CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{TABLE}" '
    '("Receipt" TEXT PRIMARY KEY, "CreatedAt" REAL NOT NULL, "Result" BLOB NOT NULL)'
)
CREATE_INDEX = f'CREATE INDEX IF NOT EXISTS "{TABLE}_CreatedAt" ON "{TABLE}" ("CreatedAt")'
# How long a receipt is kept: far longer than any retry waits for its answer, short enough that
# the table does not grow with every keyed write the company ever had.
KEEP_SECONDS = 30 * 86_400


def ensure_table(connection: sqlite3.Connection) -> None:
    connection.execute(CREATE_TABLE)
    connection.execute(CREATE_INDEX)


def record(connection: sqlite3.Connection, receipt: str, result: WriteResult) -> None:
    """Record `receipt` in the caller's open transaction.

    Raises:
        IdempotencyKeyInUse: another attempt with the same key committed first.
    """
    now = time.time()
    prune(connection, now - KEEP_SECONDS)
    try:
        connection.execute(
            f'INSERT INTO "{TABLE}" ("Receipt", "CreatedAt", "Result") VALUES (?, ?, ?)',
            (receipt, now, msgspec.json.encode(result)),
        )
    except sqlite3.IntegrityError:
        raise IdempotencyKeyInUse(
            "Another request with this Idempotency-Key was written first", target="Idempotency-Key"
        ) from None


def find(connection: sqlite3.Connection, receipt: str) -> WriteResult | None:
    """The result the write with `receipt` committed, or None if no such write committed."""
    ensure_table(connection)
    row = connection.execute(f'SELECT "Result" FROM "{TABLE}" WHERE "Receipt" = ?', (receipt,)).fetchone()
    return None if row is None else msgspec.json.decode(bytes(row[0]), type=WriteResult)


def prune(connection: sqlite3.Connection, older_than: float) -> None:
    """Forget receipts older than `older_than` (a time): their answers have been stored or expired."""
    connection.execute(f'DELETE FROM "{TABLE}" WHERE "CreatedAt" < ?', (older_than,))
