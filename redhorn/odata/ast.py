"""The `$filter` syntax tree: frozen plain data, positions kept for error messages.

Positions are 0-based offsets into the `$filter` text, so an error can point at the character.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal as TypingLiteral, TypeAlias, assert_never

import msgspec

CompareOperator = TypingLiteral["eq", "ne", "gt", "ge", "lt", "le"]
LiteralValue = str | int | Decimal | float | bool | None


class Property(msgspec.Struct, frozen=True, tag=True):
    name: str
    position: int = 0


class Literal(msgspec.Struct, frozen=True, tag=True):
    value: LiteralValue
    position: int = 0


class Call(msgspec.Struct, frozen=True, tag=True):
    """A function call: contains, startswith, endswith, tolower, toupper, length, trim."""

    function: str
    args: tuple[Expression, ...]
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
Expression: TypeAlias = Property | Literal | Call | Compare | In | BoolOp | Not


def count_nodes(node: Expression) -> int:
    """How many nodes the tree has: the measure of the `$filter` size guard."""
    match node:
        case Compare() | BoolOp():
            return 1 + count_nodes(node.left) + count_nodes(node.right)
        case Not():
            return 1 + count_nodes(node.operand)
        case In():
            return 1 + count_nodes(node.operand) + len(node.values)
        case Call():
            return 1 + sum(count_nodes(arg) for arg in node.args)
        case Property() | Literal():
            return 1
        case _:
            assert_never(node)
