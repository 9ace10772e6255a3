"""The `$filter` syntax tree: frozen plain data, positions kept for error messages.

Positions are 0-based offsets into the `$filter` text, so an error can point at the character.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal as TypingLiteral, TypeAlias, assert_never

import msgspec

CompareOperator = TypingLiteral["eq", "ne", "gt", "ge", "lt", "le"]
ArithmeticOperator = TypingLiteral["add", "sub", "mul", "div", "mod"]
# OData's Edm.Date, Edm.TimeOfDay and Edm.DateTimeOffset literals parse to `date`, `time` and an aware
# `datetime`; the binder turns them into what Visma stores (yyyymmdd and hhmm integers).
LiteralValue = str | int | Decimal | float | bool | None | dt.date | dt.time | dt.datetime
# Which Visma value a bound `now()` stands for: today's yyyymmdd or the hhmm of this minute.
NowUnit = TypingLiteral["date", "time"]


class Property(msgspec.Struct, frozen=True, tag=True):
    name: str
    position: int = 0


class Literal(msgspec.Struct, frozen=True, tag=True):
    value: LiteralValue
    position: int = 0


class Call(msgspec.Struct, frozen=True, tag=True):
    """A function call, one of `redhorn.odata.parser.FUNCTIONS`.

    `now` is left unset by the parser; the binder sets it on a `now()` compared with a date or
    time property, so that the compiler writes today's yyyymmdd or this minute's hhmm.
    """

    function: str
    args: tuple[Expression, ...]
    position: int = 0
    now: NowUnit | None = None


class Arithmetic(msgspec.Struct, frozen=True, tag=True):
    """`left add|sub|mul|div|mod right`.

    `integer` is set by the binder when both operands are integers: `div` is then integer division
    (truncated toward zero, as both SQLite and T-SQL divide integers), otherwise decimal division.
    """

    operator: ArithmeticOperator
    left: Expression
    right: Expression
    position: int = 0
    integer: bool = False


class Negate(msgspec.Struct, frozen=True, tag=True):
    """Unary minus: `-Quantity`."""

    operand: Expression
    position: int = 0


class Compare(msgspec.Struct, frozen=True, tag=True):
    operator: CompareOperator
    left: Expression
    right: Expression
    position: int = 0


class In(msgspec.Struct, frozen=True, tag=True):
    operand: Expression
    values: tuple[Literal, ...]
    position: int = 0


class BoolOp(msgspec.Struct, frozen=True, tag=True):
    operator: TypingLiteral["and", "or"]
    left: Expression
    right: Expression
    position: int = 0


class Not(msgspec.Struct, frozen=True, tag=True):
    operand: Expression
    position: int = 0


# Every node type, as one closed union: code that walks the tree matches on it and ends with
# `assert_never`, so that mypy names every walker a new node type is missing from.
Expression: TypeAlias = Property | Literal | Call | Arithmetic | Negate | Compare | In | BoolOp | Not


def count_nodes(node: Expression) -> int:
    """How many nodes the tree has: the measure of the `$filter` size guard."""
    match node:
        case Compare() | BoolOp() | Arithmetic():
            return 1 + count_nodes(node.left) + count_nodes(node.right)
        case Not() | Negate():
            return 1 + count_nodes(node.operand)
        case In():
            return 1 + count_nodes(node.operand) + len(node.values)
        case Call():
            return 1 + sum(count_nodes(arg) for arg in node.args)
        case Property() | Literal():
            return 1
        case _:
            assert_never(node)
