"""Rows the business rules read while a write runs, read for many keys at a time.

Each line of an order names a product, and the rules read the product's row and its price after
the line's `ProductNo` is assigned: two statements a line when read one line at a time. A write
announces the keys its body names (`want`); the first time the rules ask for one of them, the rows
of all of them are read in one statement per table (`WHERE key IN (...)`, in chunks below
SQLite's limit on parameters) and kept for the rest of the request. A write to a table forgets
what was read from it.

A batch answers only what the one-key statement it stands for (`WHERE key = ?`) would answer.
SQLite compares text keys by the column's collation (BINARY, NOCASE or RTRIM), so every row a key
finds has the same key up to case and trailing spaces: grouped that way, the rows of a group whose
key alone was asked for are exactly the rows that key finds. Whatever a batch cannot answer that
surely (keys that are not text, two keys of one group, a row whose key is not text, several rows
where the statement takes the first in no particular order) is `UNANSWERED`, and the caller runs
the one-key statement as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

Row = tuple[Any, ...]
# Reads the rows of these keys, each row starting with its key, in the order the one-key
# statement would take them.
Read = Callable[[Sequence[str]], Iterable[Row]]
# Where rows come from: (table, key column, anything else the rows depend on, such as a customer).
Source = tuple[Any, ...]

# Most parameters a batch binds, whatever SQLite would allow: statements stay short, and sqlite3
# keeps one prepared statement per size.
MOST_KEYS_AT_ONCE = 500


class _Unanswered:
    def __repr__(self) -> str:
        return "UNANSWERED"


UNANSWERED: Final = _Unanswered()


class Lookups:
    """One request's reads for the rules, by source and key."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._wanted: dict[tuple[str, str], dict[str, None]] = {}
        self._found: dict[Source, dict[str, Row | None]] = {}
        self._read: dict[Source, set[str]] = {}

    def want(self, table: str, column: str, keys: Iterable[Any]) -> None:
        """Announce keys of `table.column` the request will look up, so that one statement reads them all."""
        wanted = self._wanted.setdefault((table, column), {})
        wanted.update(dict.fromkeys(key for key in keys if _batchable(key)))

    def first(self, source: Source, key: Any, read: Read, *, reserved: int = 0, unique: bool = True) -> Any:
        """The first row of `source` for `key` (None when there is none), or `UNANSWERED`.

        Args:
            source: (table, key column, ...): rows of one source are read and kept together.
            read: the batch statement, run once per chunk of keys.
            reserved: the parameters the statement binds besides the keys.
            unique: the one-key statement takes a row in no particular order, so a key must find
                at most one; else the rows come in the statement's order and the first is taken.
        """
        found = self._found.setdefault(source, {})
        if key in found or not _batchable(key):
            return found.get(key, UNANSWERED)
        done = self._read.setdefault(source, set())
        if key in done:
            return UNANSWERED
        keys = [k for k in self._wanted.get((source[0], source[1]), ()) if k not in done]
        if key not in keys:
            keys.append(key)
        done.update(keys)
        found.update(_answers(self.connection, keys, read, reserved, unique))
        return found.get(key, UNANSWERED)

    def forget(self, table: str) -> None:
        """Drop what was read from `table`: the request has written to it."""
        for source in [s for s in self._found if s[0] == table]:
            del self._found[source]
            self._read.pop(source, None)


def _batchable(key: Any) -> bool:
    if type(key) is not str:
        return False
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True


def _group(key: str) -> str:
    """Keys SQLite's collations may hold equal (NOCASE folds ASCII case, RTRIM trailing spaces) share a group."""
    return key.casefold().rstrip(" ")


def _answers(
    connection: sqlite3.Connection, keys: list[str], read: Read, reserved: int, unique: bool
) -> dict[str, Row | None]:
    group_of = {key: _group(key) for key in keys}
    sizes: dict[str, int] = {}
    for group in group_of.values():
        sizes[group] = sizes.get(group, 0) + 1
    alone = [key for key in keys if sizes[group_of[key]] == 1]
    size = max(1, min(MOST_KEYS_AT_ONCE, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - reserved))
    answers: dict[str, Row | None] = {}
    for start in range(0, len(alone), size):
        chunk = alone[start : start + size]
        rows: dict[str, list[Row]] = {group_of[key]: [] for key in chunk}
        for row in read(chunk):
            found = rows.get(_group(row[0])) if type(row[0]) is str else None
            if found is None:  # a row no key of the chunk surely found: the chunk answers nothing
                break
            found.append(row)
        else:
            for key in chunk:
                matched = rows[group_of[key]]
                if not (unique and len(matched) > 1):
                    answers[key] = matched[0] if matched else None
    return answers
