"""Check a parsed `$filter` against a table: names exist, types fit, the result is a condition.

The parser only knows syntax; this knows the metadata. It returns the same tree with every
property spelled as the metadata spells it, so later steps can look columns up directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal as TypingLiteral, assert_never

from redhorn.errors import ODataError
from redhorn.metadata import Column, Table
from redhorn.odata.ast import BoolOp, Call, Compare, Expression, In, Literal, Not, Property

ValueType = TypingLiteral["number", "string", "boolean", "datetime", "binary", "null"]

_KIND_TYPES: dict[str, ValueType] = {
    "integer": "number",
    "decimal": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "datetime": "datetime",
    "binary": "binary",
}
_STRING_PREDICATES = frozenset({"contains", "startswith", "endswith"})
_STRING_TRANSFORMS = frozenset({"tolower", "toupper", "trim"})


def column_value_type(column: Column) -> ValueType:
    return _KIND_TYPES[column.kind]


def bind_filter(tree: Expression, table: Table) -> Expression:
    """Validate `tree` against `table` and return it with canonical property names.

    Raises:
        ODataError: an unknown property, a type mismatch or an expression that is not a condition.
    """
    bound, value_type = _bind(tree, table)
    if value_type != "boolean":
        raise _error("$filter must be a condition (a comparison, a function such as contains, or a boolean)", tree)
    return bound


def _error(message: str, node: Expression) -> ODataError:
    return ODataError(f"{message} at position {node.position}", target="$filter", position=node.position)


def _literal_type(value: object) -> ValueType:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal | float):
        return "number"
    return "string"


def _compatible(left: ValueType, right: ValueType) -> bool:
    if "null" in (left, right):
        return True
    if left == right:
        return True
    # Date-time columns (SQL Server) compare with ISO 8601 text.
    return {left, right} == {"datetime", "string"}


def _bind(node: Expression, table: Table) -> tuple[Expression, ValueType]:
    """`node` with canonical property names, and the type of value it yields."""
    match node:
        case Property():
            column = table.column(node.name)
            if column is None:
                raise _error(f"Unknown property {node.name!r} of {table.resource!r}", node)
            return Property(column.name, node.position), column_value_type(column)
        case Literal():
            return node, _literal_type(node.value)
        case Compare():
            return _bind_compare(node, table)
        case In():
            return _bind_in(node, table)
        case BoolOp():
            return _bind_bool_op(node, table)
        case Not():
            operand, operand_type = _bind(node.operand, table)
            if operand_type != "boolean":
                raise _error("'not' must be followed by a condition", node)
            return Not(operand, node.position), "boolean"
        case Call():
            return _bind_call(node, table)
        case _:
            assert_never(node)


def _bind_compare(node: Compare, table: Table) -> tuple[Expression, ValueType]:
    left, left_type = _bind(node.left, table)
    right, right_type = _bind(node.right, table)
    if left_type == "null" and right_type == "null":
        raise _error("Cannot compare null with null", node)
    if not _compatible(left_type, right_type):
        raise _error(f"Cannot compare a {left_type} with a {right_type} using {node.operator!r}", node)
    if node.operator not in ("eq", "ne") and "null" in (left_type, right_type):
        raise _error(f"Only 'eq' and 'ne' can compare with null, not {node.operator!r}", node)
    if node.operator not in ("eq", "ne") and "boolean" in (left_type, right_type):
        raise _error(f"Booleans can only be compared with 'eq' or 'ne', not {node.operator!r}", node)
    return Compare(node.operator, left, right, node.position), "boolean"


def _bind_in(node: In, table: Table) -> tuple[Expression, ValueType]:
    operand, operand_type = _bind(node.operand, table)
    if isinstance(operand, Literal):
        raise _error("The left side of 'in' must be a property or a function", node)
    for value in node.values:
        if not _compatible(operand_type, _literal_type(value.value)):
            raise _error(f"Cannot compare a {operand_type} with {value.value!r} in 'in'", value)
    return In(operand, node.values, node.position), "boolean"


def _bind_bool_op(node: BoolOp, table: Table) -> tuple[Expression, ValueType]:
    left, left_type = _bind(node.left, table)
    right, right_type = _bind(node.right, table)
    for side, side_type in ((node.left, left_type), (node.right, right_type)):
        if side_type != "boolean":
            raise _error(f"Both sides of {node.operator!r} must be conditions", side)
    return BoolOp(node.operator, left, right, node.position), "boolean"


def _bind_call(node: Call, table: Table) -> tuple[Expression, ValueType]:
    args: list[Expression] = []
    for arg in node.args:
        bound, arg_type = _bind(arg, table)
        if arg_type != "string":
            raise _error(f"{node.function}() takes text, not a {arg_type}", arg)
        args.append(bound)
    if isinstance(args[0], Literal):
        raise _error(f"The first argument of {node.function}() must be a property or a function", node)
    if node.function in _STRING_PREDICATES:
        result: ValueType = "boolean"
    elif node.function in _STRING_TRANSFORMS:
        result = "string"
    else:
        result = "number"
    return Call(node.function, tuple(args), node.position), result
