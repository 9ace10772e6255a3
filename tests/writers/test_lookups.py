"""The rules' reads batched per request: a batch answers exactly what the one-key statement would,
in one statement per chunk of keys below SQLite's parameter limit, and leaves to that statement
whatever it cannot answer surely."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from redhorn.writers.lookups import MOST_KEYS_AT_ONCE, UNANSWERED, Lookups

SOURCE = ("Prod", "ProdNo", ())


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(":memory:")
    opened.execute('CREATE TABLE "Prod" ("ProdNo" VARCHAR(40) COLLATE NOCASE PRIMARY KEY, "Descr" TEXT)')
    opened.executemany('INSERT INTO "Prod" VALUES (?, ?)', [(f"P{n}", f"Product {n}") for n in range(1, 31)])
    yield opened
    opened.close()


class Reads:
    """The batch statement, counting how often it runs and how many keys it binds at most."""

    def __init__(self, connection: sqlite3.Connection, table: str = "Prod") -> None:
        self.connection, self.table = connection, table
        self.statements, self.widest = 0, 0

    def __call__(self, keys: Sequence[str]) -> list[tuple[Any, ...]]:
        self.statements += 1
        self.widest = max(self.widest, len(keys))
        marks = ", ".join("?" * len(keys))
        sql = f'SELECT "ProdNo", "Descr" FROM "{self.table}" WHERE "ProdNo" IN ({marks})'
        return self.connection.execute(sql, list(keys)).fetchall()


def one_by_one(connection: sqlite3.Connection, key: Any, table: str = "Prod") -> tuple[Any, ...] | None:
    """What the one-key statement the batch stands for finds."""
    row = connection.execute(f'SELECT "ProdNo", "Descr" FROM "{table}" WHERE "ProdNo" = ? LIMIT 1', (key,)).fetchone()
    return None if row is None else tuple(row)


def test_keys_announced_are_read_in_one_statement_and_answer_as_one_by_one(connection):
    lookups, read = Lookups(connection), Reads(connection)
    asked = ["P3", "P1", "P3", "NOPE", "P20", "P1"]
    lookups.want("Prod", "ProdNo", asked)
    answers = [lookups.first(SOURCE, key, read) for key in asked]
    assert answers == [one_by_one(connection, key) for key in asked]
    assert answers[3] is None, "a key no row has is answered: there is none"
    assert read.statements == 1


def test_a_key_not_announced_is_read_when_asked_and_then_kept(connection):
    lookups, read = Lookups(connection), Reads(connection)
    lookups.want("Prod", "ProdNo", ["P1"])
    assert lookups.first(SOURCE, "P2", read) == ("P2", "Product 2")
    assert lookups.first(SOURCE, "P1", read) == ("P1", "Product 1")
    assert lookups.first(SOURCE, "P2", read) == ("P2", "Product 2")
    assert read.statements == 1, "the first read took the announced key along"


def test_more_keys_than_the_parameter_limit_allows_are_read_in_chunks_below_it(connection):
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 8)
    lookups, read = Lookups(connection), Reads(connection)
    asked = [f"P{n}" for n in range(1, 31)] + ["NOPE"]
    lookups.want("Prod", "ProdNo", asked)
    answers = [lookups.first(SOURCE, key, read, reserved=3) for key in asked]
    assert answers == [one_by_one(connection, key) for key in asked]
    assert read.widest == 5, "8 parameters, 3 of them the statement's own"
    assert read.statements == 7


def test_chunks_are_capped_whatever_sqlite_allows(connection):
    lookups, read = Lookups(connection), Reads(connection)
    asked = [f"K{n}" for n in range(MOST_KEYS_AT_ONCE + 1)]
    lookups.want("Prod", "ProdNo", asked)
    assert lookups.first(SOURCE, "K0", read) is None
    assert (read.statements, read.widest) == (2, MOST_KEYS_AT_ONCE)


def test_a_key_in_another_case_finds_the_row_its_collation_finds(connection):
    lookups, read = Lookups(connection), Reads(connection)
    assert lookups.first(SOURCE, "p7", read) == one_by_one(connection, "p7") == ("P7", "Product 7")
    assert lookups.first(SOURCE, "p7 ", read) is one_by_one(connection, "p7 ") is None, "NOCASE keeps spaces"


def test_two_keys_a_collation_may_hold_equal_are_left_to_the_one_key_statement(connection):
    lookups, read = Lookups(connection), Reads(connection)
    lookups.want("Prod", "ProdNo", ["P1", "p1", "P2"])
    assert lookups.first(SOURCE, "P1", read) is UNANSWERED
    assert lookups.first(SOURCE, "p1", read) is UNANSWERED
    assert lookups.first(SOURCE, "P2", read) == ("P2", "Product 2")
    assert read.statements == 1


def test_keys_that_are_not_text_are_left_to_the_one_key_statement(connection):
    lookups, read = Lookups(connection), Reads(connection)
    lookups.want("Prod", "ProdNo", [1, "\ud800"])
    assert lookups.first(SOURCE, 1, read) is UNANSWERED
    assert lookups.first(SOURCE, "\ud800", read) is UNANSWERED
    assert read.statements == 0


def test_a_row_whose_key_is_not_text_leaves_its_chunk_unanswered(connection):
    connection.execute('CREATE TABLE "Num" ("ProdNo" INTEGER, "Descr" TEXT)')
    connection.execute('INSERT INTO "Num" VALUES (5, ?)', ("five",))
    lookups, read = Lookups(connection), Reads(connection, "Num")
    lookups.want("Num", "ProdNo", ["5", "6"])
    assert one_by_one(connection, "5", "Num") == (5, "five"), "integer affinity makes '5' find 5"
    assert lookups.first(("Num", "ProdNo"), "5", read) is UNANSWERED
    assert lookups.first(("Num", "ProdNo"), "6", read) is UNANSWERED


def test_several_rows_of_one_key_answer_only_when_their_order_is_the_statements(connection):
    connection.execute('CREATE TABLE "Price" ("ProdNo" TEXT, "Descr" TEXT, "Ln" INTEGER)')
    rows = [("A", "old", 1), ("A", "new", 2), ("B", "only", 3)]
    connection.executemany('INSERT INTO "Price" VALUES (?, ?, ?)', rows)

    def ordered(keys: Sequence[str]) -> Any:
        marks = ", ".join("?" * len(keys))
        sql = f'SELECT "ProdNo", "Descr" FROM "Price" WHERE "ProdNo" IN ({marks}) ORDER BY "Ln" DESC'
        return connection.execute(sql, list(keys)).fetchall()

    unordered = Lookups(connection)
    assert unordered.first(("Price", "ProdNo"), "A", Reads(connection, "Price")) is UNANSWERED
    lookups = Lookups(connection)
    lookups.want("Price", "ProdNo", ["A", "B"])
    assert lookups.first(("Price", "ProdNo"), "A", ordered, unique=False) == ("A", "new")
    assert lookups.first(("Price", "ProdNo"), "B", ordered, unique=False) == ("B", "only")


def test_a_write_to_the_table_forgets_what_was_read_from_it(connection):
    lookups, read = Lookups(connection), Reads(connection)
    assert lookups.first(SOURCE, "P1", read) == ("P1", "Product 1")
    connection.execute('UPDATE "Prod" SET "Descr" = ? WHERE "ProdNo" = ?', ("Changed", "P1"))
    lookups.forget("Other")
    assert lookups.first(SOURCE, "P1", read) == ("P1", "Product 1"), "kept: another table was written"
    lookups.forget("Prod")
    assert lookups.first(SOURCE, "P1", read) == ("P1", "Changed")
    assert read.statements == 2
