"""A small company database for property tests, and a pure-Python reference of redhorn's reads.

The table `Probe` is built to stress what goes wrong in OData-over-SQL: ties (`Grp`), NULLs in
text and numbers (`Seg`, `Qty`), text with LIKE wildcards, quotes and letters in both cases
(`Nm`), decimals (`Amt`). It is exposed like any Data Model Extension table, as `probe`.

The reference evaluates a filter tree with the semantics redhorn documents: two-valued logic
(a NULL compares unequal to every value), text compared as the column collates it (SQLite's
NOCASE: ASCII letters fold), function results compared exactly, LIKE ASCII case-insensitive;
NULL sorts first ascending and last descending; the key breaks ties.
"""

from __future__ import annotations

import functools
import random
import shutil
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

COMPANY = 77
TEXTS = ["Alfa", "alfa", "ALFA", "Beta", "be_ta", "50%", "50% off", "it's", "Øst", "øst", "Zulu", "", " pad ", "a_b%c"]
SEGMENTS = [None, "Retail", "retail", "Public", "WHOLESALE", "x_y"]
COLUMNS = ("Id", "Grp", "Amt", "Nm", "Seg", "Qty")
KINDS = {"Id": "int", "Grp": "int", "Amt": "dec", "Nm": "text", "Seg": "text", "Qty": "int"}
NULLABLE = {"Seg", "Qty"}


def build_probe_folder(demo_folder: Path, target: Path, rows: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """Copy the demo's system databases, register company 77 and write its `Probe` table."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("vbsys.db", "Catalog.db"):
        shutil.copy(demo_folder / name, target / name)
    with sqlite3.connect(target / "vbsys.db") as connection:
        connection.execute("INSERT INTO Company (FrmNo, Nm) VALUES (?, ?)", (COMPANY, "Probe AS"))
    rng = random.Random(seed)
    data: list[dict[str, Any]] = []
    for number in range(1, rows + 1):
        data.append(
            {
                "Id": number,
                "Grp": rng.randrange(5),
                "Amt": round(rng.uniform(-50, 500), 2) if rng.random() > 0.1 else 0.0,
                "Nm": rng.choice(TEXTS),
                "Seg": rng.choice(SEGMENTS),
                "Qty": None if rng.random() < 0.25 else rng.randrange(-3, 20),
            }
        )
    with sqlite3.connect(target / f"F{COMPANY:04d}.db") as connection:
        connection.execute(
            'CREATE TABLE "Probe" ("Id" INTEGER NOT NULL PRIMARY KEY, "Grp" INT NOT NULL, '
            '"Amt" DECIMAL(10,2) NOT NULL, "Nm" VARCHAR(20) NOT NULL COLLATE NOCASE, '
            '"Seg" VARCHAR(20) NULL COLLATE NOCASE, "Qty" INT NULL)'
        )
        connection.executemany(
            "INSERT INTO Probe VALUES (?, ?, ?, ?, ?, ?)", [tuple(row[c] for c in COLUMNS) for row in data]
        )
    return data


# --- filter trees, as the property tests generate them -----------------------------------------


@dataclass(frozen=True)
class Prop:
    name: str


@dataclass(frozen=True)
class Func:
    name: str  # tolower, toupper, trim, length
    arg: Prop


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Like:
    name: str  # contains, startswith, endswith
    subject: Any
    pattern: str


@dataclass(frozen=True)
class InList:
    subject: Prop
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Bool:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Neg:
    operand: Any


def literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def render(node: Any) -> str:
    """The OData `$filter` text of a tree."""
    if isinstance(node, Prop):
        return node.name
    if isinstance(node, Func):
        return f"{node.name}({render(node.arg)})"
    if isinstance(node, Cmp):
        return f"{render_operand(node.left)} {node.op} {render_operand(node.right)}"
    if isinstance(node, Like):
        return f"{node.name}({render(node.subject)},{literal_text(node.pattern)})"
    if isinstance(node, InList):
        return f"{render(node.subject)} in ({', '.join(literal_text(v) for v in node.values)})"
    if isinstance(node, Bool):
        return f"({render(node.left)}) {node.op} ({render(node.right)})"
    assert isinstance(node, Neg)
    return f"not ({render(node.operand)})"


def render_operand(operand: Any) -> str:
    return render(operand) if isinstance(operand, Prop | Func) else literal_text(operand)


# --- the reference --------------------------------------------------------------------------------


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def ascii_upper(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def value_of(operand: Any, row: dict[str, Any]) -> Any:
    if isinstance(operand, Prop):
        return row[operand.name]
    if isinstance(operand, Func):
        value = row[operand.arg.name]
        if value is None:
            return None
        return {"tolower": ascii_lower, "toupper": ascii_upper, "trim": lambda v: v.strip(" "), "length": len}[
            operand.name
        ](value)
    if isinstance(operand, Decimal):
        return float(operand)
    return operand


def collated(operand: Any, value: Any) -> Any:
    """Text of a NOCASE column compares with ASCII letters folded; function results exactly."""
    if isinstance(value, str) and isinstance(operand, Prop) and KINDS[operand.name] == "text":
        return ascii_lower(value)
    return value


def compare(op: str, left: Any, right: Any, row: dict[str, Any]) -> bool:
    if not isinstance(left, Prop | Func):  # literal first: SQL sees the column's collation all the same
        left, right = right, left
        op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
    a, b = value_of(left, row), value_of(right, row)
    if a is None or b is None:
        if op == "eq":
            return a is None and b is None
        if op == "ne":
            return not (a is None and b is None)
        return False
    if isinstance(a, str):
        a, b = collated(left, a), collated(left, b)
    outcome: bool = {"eq": a == b, "ne": a != b, "gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
    return outcome


def evaluate(node: Any, row: dict[str, Any]) -> bool:
    if isinstance(node, Cmp):
        return compare(node.op, node.left, node.right, row)
    if isinstance(node, Like):
        subject = value_of(node.subject, row)
        if subject is None:
            return False
        text, pattern = ascii_lower(subject), ascii_lower(node.pattern)
        return {
            "contains": pattern in text,
            "startswith": text.startswith(pattern),
            "endswith": text.endswith(pattern),
        }[node.name]
    if isinstance(node, InList):
        value = row[node.subject.name]
        if value is None:
            return any(v is None for v in node.values)
        key = collated(node.subject, value)
        return any(v is not None and collated(node.subject, value_of(v, row)) == key for v in node.values)
    if isinstance(node, Bool):
        if node.op == "and":
            return evaluate(node.left, row) and evaluate(node.right, row)
        return evaluate(node.left, row) or evaluate(node.right, row)
    assert isinstance(node, Neg)
    return not evaluate(node.operand, row)


def sort_rows(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Rows in `$orderby` order, NULLs first ascending, the key (`Id`) breaking ties."""

    def compare_rows(x: dict[str, Any], y: dict[str, Any]) -> int:
        for name, descending in [*order, ("Id", False)]:
            a, b = x[name], y[name]
            if isinstance(a, str) and isinstance(b, str):
                a, b = ascii_lower(a).encode(), ascii_lower(b).encode()
            if a == b:
                continue
            if a is None or b is None:
                result = -1 if a is None else 1
            else:
                result = -1 if a < b else 1
            return -result if descending else result
        return 0

    return sorted(rows, key=functools.cmp_to_key(compare_rows))
