"""Check a parsed `$filter` against a table: names exist, types fit, the result is a condition.

The parser only knows syntax; this knows the metadata. It returns the same tree with every
property spelled as the metadata spells it, so later steps can look columns up directly, and with
OData's typed literals turned into what Visma stores: a date column (`Column.domain == "date"`)
holds yyyymmdd integers, a time column hhmm integers, so `OrderDate ge 2026-01-01` becomes
`OrderDate ge 20260101` and the database compares integers on its own index. Integer literals keep
working on those columns as they always did (`OrderDate ge 20260101`).

Every mismatch is a 400 naming the culprit (the property, function or literal) and its position.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal as TypingLiteral, assert_never

from redhorn.errors import ODataError
from redhorn.metadata import Column, Table
from redhorn.odata.ast import (
    Arithmetic,
    BoolOp,
    Call,
    Compare,
    Expression,
    In,
    Literal,
    LiteralValue,
    Negate,
    Not,
    Property,
)

ValueType = TypingLiteral["number", "string", "boolean", "datetime", "binary", "null", "date", "time", "datetimeoffset"]

_KIND_TYPES: dict[str, ValueType] = {
    "integer": "number",
    "decimal": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "datetime": "datetime",
    "binary": "binary",
}
# Visma's stored forms: the integer columns whose domain is one of these hold dates or times.
_DOMAIN_TYPES: dict[str, ValueType] = {"date": "date", "time": "time"}
_STRING_PREDICATES = frozenset({"contains", "startswith", "endswith"})
# Functions whose first argument must be a property or a function (a literal there is a constant,
# and was refused before the other functions came): kept as it was.
_SUBJECT_FIRST = frozenset({"contains", "startswith", "endswith", "tolower", "toupper", "length", "trim"})
# Functions of one argument: the type it takes and the type it yields.
_UNARY: dict[str, tuple[ValueType, ValueType]] = {
    "tolower": ("string", "string"),
    "toupper": ("string", "string"),
    "trim": ("string", "string"),
    "length": ("string", "number"),
    "year": ("date", "number"),
    "month": ("date", "number"),
    "day": ("date", "number"),
    "hour": ("time", "number"),
    "minute": ("time", "number"),
    "second": ("time", "number"),
    "round": ("number", "number"),
    "floor": ("number", "number"),
    "ceiling": ("number", "number"),
}
# Functions whose result is a whole number whatever their argument: `div` of two of them divides integers.
_INTEGER_RESULTS = frozenset({"length", "indexof", "year", "month", "day", "hour", "minute", "second"})
_ROUNDING = frozenset({"round", "floor", "ceiling"})
# yyyymmdd and hhmm, as Visma stores dates and times.
DATE_FACTORS = (10_000, 100)
HOUR_FACTOR = 100


def column_value_type(column: Column) -> ValueType:
    """The type `$filter` sees: a date or time where Visma's integer holds one, else by the column's kind."""
    if column.kind == "integer" and column.domain in _DOMAIN_TYPES:
        return _DOMAIN_TYPES[column.domain]
    return _KIND_TYPES[column.kind]


def bind_filter(tree: Expression, table: Table) -> Expression:
    """Validate `tree` against `table` and return it with canonical property names.

    Raises:
        ODataError: an unknown property, a type mismatch or an expression that is not a condition.
    """
    bound, value_type = _Binder(table).bind(tree)
    if value_type != "boolean":
        raise _error("$filter must be a condition (a comparison, a function such as contains, or a boolean)", tree)
    return bound


def _error(message: str, node: Expression) -> ODataError:
    return ODataError(f"{message} at position {node.position}", target="$filter", position=node.position)


def _literal_type(value: LiteralValue) -> ValueType:
    # datetime before date: a datetime is a date to isinstance.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal | float):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetimeoffset"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    return "string"


def _compatible(left: ValueType, right: ValueType) -> bool:
    if "null" in (left, right) or left == right:
        return True
    pair = {left, right}
    # Date-time columns (SQL Server) compare with ISO 8601 text and with DateTimeOffset literals.
    if pair in ({"datetime", "string"}, {"datetime", "datetimeoffset"}):
        return True
    # Visma's dates and times are integers, and compare with integers as they always did; a
    # DateTimeOffset at midnight is a date (checked where the literal is converted).
    # `now()` is typed a DateTimeOffset until the other side makes it a date or a time.
    return pair in ({"date", "number"}, {"time", "number"}, {"date", "datetimeoffset"}, {"time", "datetimeoffset"})


def _describe(node: Expression, value_type: ValueType) -> str:
    """The culprit of a type error, as a message names it."""
    match node:
        case Property():
            return f"the property {node.name!r}"
        case Literal():
            return "null" if node.value is None else f"the literal {_literal_text(node.value)}"
        case Call():
            return f"{node.function}()"
        case Arithmetic():
            return f"'{node.operator}'"
        case _:
            return _article(value_type)


def _literal_text(value: LiteralValue) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return repr(value)


def _storage_literal(literal: Literal, target: ValueType, other: str) -> Literal:
    """A date, time or DateTimeOffset literal as the column of type `target` stores it.

    Raises:
        ODataError: a value Visma's column cannot hold (seconds on an hhmm time, a time of day on a
            date), or a date or time literal compared with `other`, a value of no date or time type.
    """
    value = literal.value
    if target == "date" and isinstance(value, dt.datetime):
        if value.timetz().replace(tzinfo=None) != dt.time():
            raise _error(
                f"A date property compares with a date such as {value.date().isoformat()}, not with a time of day "
                f"({value.isoformat()})",
                literal,
            )
        value = value.date()
    if target == "date" and isinstance(value, dt.date):
        year_factor, month_factor = DATE_FACTORS
        return Literal(value.year * year_factor + value.month * month_factor + value.day, literal.position)
    if target == "time" and isinstance(value, dt.time) and not isinstance(value, dt.datetime):
        if value.second or value.microsecond:
            raise _error(f"Visma stores times to the minute: {value.isoformat()} has seconds", literal)
        return Literal(value.hour * HOUR_FACTOR + value.minute, literal.position)
    if target == "datetime" and isinstance(value, dt.datetime):
        # SQL Server's datetime holds no zone: the moment in UTC, as ISO 8601 text it converts from.
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return Literal(utc.isoformat(sep="T"), literal.position)
    literal_type = _literal_type(value)
    if literal_type in _TEMPORAL and target != "datetimeoffset":
        raise _error(
            f"Cannot compare {_article(literal_type)} ({_describe(literal, literal_type)}) with {other}", literal
        )
    return literal


# Literal types that only date, time and date-time values compare with (not Visma's integers as numbers).
_TEMPORAL: frozenset[ValueType] = frozenset({"date", "time", "datetimeoffset"})


class _Binder:
    def __init__(self, table: Table) -> None:
        self.table = table

    def bind(self, node: Expression) -> tuple[Expression, ValueType]:
        """`node` with canonical property names, and the type of value it yields."""
        match node:
            case Property():
                column = self.table.column(node.name)
                if column is None:
                    raise _error(f"Unknown property {node.name!r} of {self.table.resource!r}", node)
                return Property(column.name, node.position), column_value_type(column)
            case Literal():
                return node, _literal_type(node.value)
            case Compare():
                return self.bind_compare(node)
            case In():
                return self.bind_in(node)
            case BoolOp():
                return self.bind_bool_op(node)
            case Not():
                operand, operand_type = self.bind(node.operand)
                if operand_type != "boolean":
                    raise _error("'not' must be followed by a condition", node)
                return Not(operand, node.position), "boolean"
            case Call():
                return self.bind_call(node)
            case Arithmetic():
                return self.bind_arithmetic(node)
            case Negate():
                operand, operand_type = self.bind(node.operand)
                self.expect_number("'-'", node.operand, operand_type)
                return Negate(operand, node.position), operand_type
            case _:
                assert_never(node)

    def bind_compare(self, node: Compare) -> tuple[Expression, ValueType]:
        left, left_type = self.bind_side(node.left)
        right, right_type = self.bind_side(node.right)
        left, right = self.now(left, right_type), self.now(right, left_type)
        left_type, right_type = _now_type(left, left_type), _now_type(right, right_type)
        if left_type == "null" and right_type == "null":
            raise _error("Cannot compare null with null", node)
        if not _compatible(left_type, right_type):
            raise _error(
                f"Cannot compare {_article(left_type)} with {_article(right_type)} using {node.operator!r} "
                f"({_describe(left, left_type)} with {_describe(right, right_type)})",
                node,
            )
        if node.operator not in ("eq", "ne") and "null" in (left_type, right_type):
            raise _error(f"Only 'eq' and 'ne' can compare with null, not {node.operator!r}", node)
        if node.operator not in ("eq", "ne") and "boolean" in (left_type, right_type):
            raise _error(f"Booleans can only be compared with 'eq' or 'ne', not {node.operator!r}", node)
        if isinstance(left, Literal):
            left = _storage_literal(left, right_type, _describe(right, right_type))
        if isinstance(right, Literal):
            right = _storage_literal(right, left_type, _describe(left, left_type))
        return Compare(node.operator, left, right, node.position), "boolean"

    def bind_side(self, node: Expression) -> tuple[Expression, ValueType]:
        """A side of a comparison; `now()` is typed by the other side, later."""
        if isinstance(node, Call) and node.function == "now":
            return node, "datetimeoffset"
        return self.bind(node)

    def now(self, node: Expression, other: ValueType) -> Expression:
        """`now()` compared with a date or time property: today's date or this minute, as Visma stores them.

        The SQL reads the database's clock (see `Dialect.now_date`): statements are cached by
        query string, so a value computed here would go stale at midnight.
        """
        if not (isinstance(node, Call) and node.function == "now"):
            return node
        if other not in ("date", "time"):
            raise _error("now() can only be compared with a date or time property", node)
        return Call("now", (), node.position, now="date" if other == "date" else "time")

    def bind_in(self, node: In) -> tuple[Expression, ValueType]:
        operand, operand_type = self.bind(node.operand)
        if isinstance(operand, Literal):
            raise _error("The left side of 'in' must be a property or a function", node)
        values: list[Literal] = []
        for value in node.values:
            value_type = _literal_type(value.value)
            if not _compatible(operand_type, value_type):
                raise _error(
                    f"Cannot compare {_article(operand_type)} with {_literal_text(value.value)} in 'in' "
                    f"({_describe(operand, operand_type)})",
                    value,
                )
            values.append(_storage_literal(value, operand_type, _describe(operand, operand_type)))
        return In(operand, tuple(values), node.position), "boolean"

    def bind_bool_op(self, node: BoolOp) -> tuple[Expression, ValueType]:
        left, left_type = self.bind(node.left)
        right, right_type = self.bind(node.right)
        for side, side_type in ((node.left, left_type), (node.right, right_type)):
            if side_type != "boolean":
                raise _error(f"Both sides of {node.operator!r} must be conditions", side)
        return BoolOp(node.operator, left, right, node.position), "boolean"

    def expect(self, what: str, node: Expression, actual: ValueType, wanted: ValueType) -> None:
        """Refuse an argument of another type than `wanted`, and a literal null: a function of null is
        null whatever the row, so such a filter is a mistake (a null column value is welcome)."""
        if actual != wanted:
            noun = "text" if wanted == "string" else _article(wanted)
            raise _error(f"{what} takes {noun}, not {_article(actual)} ({_describe(node, actual)})", node)

    def expect_number(self, what: str, node: Expression, actual: ValueType) -> None:
        if actual in ("date", "time"):
            raise _error(
                f"{what} takes a number, not {_article(actual)} ({_describe(node, actual)}): "
                "use year(), month(), day(), hour() or minute()",
                node,
            )
        self.expect(what, node, actual, "number")

    def bind_args(self, node: Call) -> list[tuple[Expression, ValueType]]:
        bound: list[tuple[Expression, ValueType]] = []
        for arg in node.args:
            if isinstance(arg, Call) and arg.function == "now":
                raise _error("now() can only be compared with a date or time property", arg)
            bound.append(self.bind(arg))
        return bound

    def bind_call(self, node: Call) -> tuple[Expression, ValueType]:
        function = node.function
        if function == "now":
            raise _error("now() can only be compared with a date or time property", node)
        bound = self.bind_args(node)
        args = tuple(arg for arg, _ in bound)
        result = self.call_type(node, bound)
        if function in _SUBJECT_FIRST and isinstance(args[0], Literal):
            raise _error(f"The first argument of {function}() must be a property or a function", node)
        return Call(function, args, node.position), result

    def call_type(self, node: Call, bound: list[tuple[Expression, ValueType]]) -> ValueType:
        """The type a call yields, once its arguments' types are checked."""
        function = node.function
        name = f"{function}()"
        if function in _UNARY:
            wanted, result = _UNARY[function]
            ((arg, arg_type),) = bound
            if wanted == "number":
                self.expect_number(name, arg, arg_type)
            else:
                self.expect(name, arg, arg_type, wanted)
            return result
        if function in _STRING_PREDICATES or function in ("indexof", "concat"):
            for arg, arg_type in bound:
                self.expect(name, arg, arg_type, "string")
            if function in _STRING_PREDICATES:
                return "boolean"
            return "number" if function == "indexof" else "string"
        if function == "substring":
            self.expect(name, bound[0][0], bound[0][1], "string")
            for arg, _ in bound[1:]:
                if not (isinstance(arg, Literal) and type(arg.value) is int and arg.value >= 0):
                    raise _error(f"{name} takes a start and a length that are whole numbers of at least 0", arg)
            return "string"
        raise AssertionError(f"the parser admits only FUNCTIONS, and {function!r} has no binding")  # pragma: no cover

    def bind_arithmetic(self, node: Arithmetic) -> tuple[Expression, ValueType]:
        left, left_type = self.bind(node.left)
        right, right_type = self.bind(node.right)
        self.expect_number(f"'{node.operator}'", left, left_type)
        self.expect_number(f"'{node.operator}'", right, right_type)
        integer = self.is_integer(left) and self.is_integer(right)
        return Arithmetic(node.operator, left, right, node.position, integer=integer), "number"

    def is_integer(self, node: Expression) -> bool:
        """Whether a bound number is a whole number, so that `div` divides integers (`null` goes either way)."""
        match node:
            case Property():
                column = self.table.column(node.name)
                return column is not None and column.kind == "integer"
            case Literal():
                return node.value is None or type(node.value) is int
            case Call():
                # round, floor and ceiling keep their argument's type (T-SQL's FLOOR of an int is an int).
                if node.function in _ROUNDING:
                    return self.is_integer(node.args[0])
                return node.function in _INTEGER_RESULTS
            case Arithmetic():
                return node.integer
            case Negate():
                return self.is_integer(node.operand)
            case Compare() | In() | BoolOp() | Not():
                return False
            case _:
                assert_never(node)


def _now_type(node: Expression, value_type: ValueType) -> ValueType:
    """The type of a bound side: a `now()` is as the date or time it was bound to."""
    if isinstance(node, Call) and node.now is not None:
        return node.now
    return value_type


def _article(value_type: ValueType) -> str:
    return f"{'an' if value_type[0] in 'aeiou' else 'a'} {value_type}"
