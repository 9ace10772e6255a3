"""Compile a `SelectQuery` or a `CountQuery` into SQL text and parameters for one dialect.

Identifiers come only from the metadata, through `dialect.quote_ident`; values only as parameters.
Comparisons are written so that a NULL behaves as OData says (null eq 'x' is false, null ne 'x' is
true) even under `not`, rather than SQL's three-valued logic leaking through.

The compiler writes the same SQL for every engine and asks the dialect's hooks where engines
differ; it never asks which dialect it holds. It walks the `$filter` tree with one `match` per
walk, each ending in `assert_never`, so that mypy proves every node type is compiled.

A `$filter` compiles to `Sql` pieces, text with the parameters of its `?` in order, so that a piece
written twice (a NULL guard beside the comparison, an argument a template repeats) carries its
parameters twice; functions and operators are the dialect's templates (`Dialect.function_template`).
OData's null semantics follow from SQL's: a function or an arithmetic operator of NULL is NULL (and
so are `year()` of Visma's 0, "no date", and a division by zero), and the comparison guards below
turn that NULL into OData's two-valued answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, assert_never

from redhorn.metadata import Table
from redhorn.odata.ast import (
    Arithmetic,
    BoolOp,
    Call,
    Compare,
    CompareOperator,
    Expression,
    In,
    Literal,
    Negate,
    Not,
    Property,
)
from redhorn.sql.dialect import Dialect
from redhorn.sql.select import CountQuery, OrderColumn, SelectQuery
from redhorn.sql.statement import Statement

COMPARISONS: dict[CompareOperator, str] = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
# The operator that swaps sides: `5 lt A` is `A gt 5`.
MIRRORED: dict[CompareOperator, CompareOperator] = {
    "eq": "eq",
    "ne": "ne",
    "gt": "lt",
    "ge": "le",
    "lt": "gt",
    "le": "ge",
}
# Where a dialect's template takes argument n.
_PLACEHOLDER = re.compile(r"\{(\d+)\}")
# Functions that are null for a stored 0 (no date) as well as for a null argument.
_NULL_FOR_ZERO = frozenset({"year", "month", "day"})
# Conditions, not values: compiled as LIKE by `_predicate`.
_PREDICATES = frozenset({"contains", "startswith", "endswith"})


def compile_select(dialect: Dialect, query: SelectQuery) -> Statement:
    """`SELECT columns FROM table WHERE filter AND seek ORDER BY order` with the dialect's paging."""
    params: list[Any] = []
    prefix, prefix_params = dialect.select_prefix(query.limit, query.offset)
    params.extend(prefix_params)
    selected: list[str] = []
    if query.json_rows:
        json_sql, json_params = dialect.json_row(query.output)
        selected.append(json_sql)
        params.extend(json_params)
    if query.columns:
        selected.append(dialect.select_list(tuple((column.sql_name, column.kind) for column in query.columns)))
    sql = f"SELECT {prefix}{', '.join(selected)} FROM {dialect.table_ref(query.table.sql_name)}"
    conditions: list[str] = []
    if query.key_values is not None:
        for column, value in zip(query.table.key, query.key_values, strict=True):
            conditions.append(f"{dialect.quote_ident(column.sql_name)} = ?")
            params.append(value)
    if query.where is not None:
        conditions.append(compile_condition(dialect, query.table, query.where, params))
    if query.seek is not None:
        conditions.append(compile_seek(dialect, query.order, query.seek, params))
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += compile_order_and_paging(dialect, query.order, query.limit, query.offset, params)
    return Statement(sql, tuple(dialect.adapt_parameter(value) for value in params))


def compile_order_and_paging(
    dialect: Dialect, order: tuple[OrderColumn, ...], limit: int | None, offset: int, params: list[Any]
) -> str:
    """`ORDER BY` and the dialect's paging clause; its values are appended to `params`."""
    sql = ""
    if order:
        sql += " ORDER BY " + ", ".join(
            dialect.quote_ident(entry.column.sql_name) + (" DESC" if entry.descending else "") for entry in order
        )
    elif dialect.paging_needs_order_by and offset:
        sql += " ORDER BY (SELECT NULL)"
    paging, paging_params = dialect.limit_offset(limit, offset)
    params.extend(paging_params)
    return sql + paging


def compile_count(dialect: Dialect, query: CountQuery) -> Statement:
    """The count of all rows that `query.where` selects (the whole set, not a page)."""
    params: list[Any] = []
    source = dialect.table_ref(query.table.sql_name)
    if query.where is not None:
        source += " WHERE " + compile_condition(dialect, query.table, query.where, params)
    return Statement(dialect.count_sql(source), tuple(dialect.adapt_parameter(value) for value in params))


def compile_seek(dialect: Dialect, order: tuple[OrderColumn, ...], values: tuple[Any, ...], params: list[Any]) -> str:
    """Rows strictly after `values` in `order`: the keyset condition of the next page.

    Expanded as `a >= ? AND (a > ? OR (a = ? AND b > ?) ...)`: the leading bound lets both
    engines seek an index on the first column; NULLs sort first ascending and last descending,
    as they do in SQLite and SQL Server.
    """
    branches: list[tuple[str, list[Any]]] = []
    equal_prefix: list[str] = []
    prefix_params: list[Any] = []
    for entry, value in zip(order, values, strict=True):
        name = dialect.quote_ident(entry.column.sql_name)
        after, after_params = _after(name, entry, value)
        if after:
            branches.append((" AND ".join([*equal_prefix, after]), [*prefix_params, *after_params]))
        if value is None:
            equal_prefix.append(f"{name} IS NULL")
        else:
            equal_prefix.append(f"{name} = ?")
            prefix_params.append(value)
    seek = " OR ".join(f"({text})" for text, _ in branches) or "1 = 0"
    first, first_value = order[0], values[0]
    if first_value is not None and not first.column.nullable:
        operator = "<=" if first.descending else ">="
        seek = f"{dialect.quote_ident(first.column.sql_name)} {operator} ? AND ({seek})"
        params.append(first_value)
    else:
        seek = f"({seek})"
    for _, branch_params in branches:
        params.extend(branch_params)
    return seek


def _after(name: str, entry: OrderColumn, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        # NULL is first ascending (every non-NULL follows) and last descending (nothing follows).
        return (f"{name} IS NOT NULL", []) if not entry.descending else ("", [])
    operator = "<" if entry.descending else ">"
    if entry.descending and entry.column.nullable:
        return f"({name} {operator} ? OR {name} IS NULL)", [value]
    return f"{name} {operator} ?", [value]


class Sql(NamedTuple):
    """SQL text and the values of its `?` placeholders, in text order."""

    text: str
    params: tuple[Any, ...] = ()


def _join(*parts: str | Sql) -> Sql:
    """The pieces one after the other, plain strings being SQL without parameters."""
    texts: list[str] = []
    params: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        else:
            texts.append(part.text)
            params.extend(part.params)
    return Sql("".join(texts), tuple(params))


def _fill(template: str, args: Sequence[Sql]) -> Sql:
    """A dialect's template with `{n}` replaced by argument n, its parameters each time it appears."""
    parts: list[str | Sql] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(template[last : match.start()])
        parts.append(args[int(match.group(1))])
        last = match.end()
    parts.append(template[last:])
    return _join(*parts)


def compile_condition(dialect: Dialect, table: Table, node: Expression, params: list[Any]) -> str:
    """SQL for a bound `$filter` condition; values are appended to `params` in text order."""
    condition = _condition(dialect, table, node)
    params.extend(condition.params)
    return condition.text


def _condition(dialect: Dialect, table: Table, node: Expression) -> Sql:
    match node:
        case BoolOp():
            left = _condition(dialect, table, node.left)
            right = _condition(dialect, table, node.right)
            return _join("(", left, f" {node.operator.upper()} ", right, ")")
        case Not():
            return _join("NOT (", _condition(dialect, table, node.operand), ")")
        case Compare():
            return _compare(dialect, table, node)
        case In():
            return _in(dialect, table, node)
        case Call():
            return _predicate(dialect, table, node)
        case Property():
            value = _value(dialect, table, node)
            if _nullable(table, node):
                return _join("(", value, " IS NOT NULL AND ", value, " <> 0)")
            return _join(value, " <> 0")
        case Literal():
            return Sql("1 = 1" if node.value else "1 = 0")
        case Arithmetic() | Negate():
            raise AssertionError("the binder lets no number stand as a condition")
        case _:
            assert_never(node)


def _nullable(table: Table, node: Expression) -> bool:
    """Whether `node` can be NULL: a nullable column, or a function or arithmetic of one; `year()`
    and the like of Visma's 0; a division or remainder whose divisor may be 0.

    A literal's NULL is handled where it is compared (`IS NULL`), and conditions are never NULL:
    the compiler writes them in two-valued logic.
    """
    match node:
        case Property():
            column = table.column(node.name)
            return column is not None and column.nullable
        case Call():
            return node.function in _NULL_FOR_ZERO or any(_nullable(table, arg) for arg in node.args)
        case Arithmetic():
            divisor = node.right
            by_zero = node.operator in ("div", "mod") and not (isinstance(divisor, Literal) and divisor.value)
            return by_zero or _nullable(table, node.left) or _nullable(table, node.right)
        case Negate():
            return _nullable(table, node.operand)
        case Literal() | Compare() | In() | BoolOp() | Not():
            return False
        case _:
            assert_never(node)


def _compare(dialect: Dialect, table: Table, node: Compare) -> Sql:
    left, right, operator = node.left, node.right, node.operator
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, operator = right, left, MIRRORED[operator]
    if isinstance(right, Literal) and right.value is None:
        value = _value(dialect, table, left)
        return _join(value, " IS NULL" if operator == "eq" else " IS NOT NULL")
    left_sql = _value(dialect, table, left)
    right_sql = _value(dialect, table, right)
    comparison = _join(left_sql, f" {COMPARISONS[operator]} ", right_sql)
    nullable = [sql for expr, sql in ((left, left_sql), (right, right_sql)) if _nullable(table, expr)]
    if not nullable:
        return comparison
    # Two-valued logic: with a NULL side, only 'ne' holds, and only when the other side is not NULL.
    # With two nullable sides the comparison itself is guarded too, so that no branch is NULL and
    # `not` turns every row's answer over.
    if operator == "ne":
        if len(nullable) == 2:
            return _join(
                "((", left_sql, " IS NOT NULL AND ", right_sql, " IS NOT NULL AND ", comparison, ") ",
                "OR (", left_sql, " IS NULL AND ", right_sql, " IS NOT NULL) ",
                "OR (", left_sql, " IS NOT NULL AND ", right_sql, " IS NULL))",
            )  # fmt: skip
        return _join("(", nullable[0], " IS NULL OR ", comparison, ")")
    if operator == "eq" and len(nullable) == 2:
        return _join(
            "((", left_sql, " IS NOT NULL AND ", right_sql, " IS NOT NULL AND ", comparison, ") ",
            "OR (", left_sql, " IS NULL AND ", right_sql, " IS NULL))",
        )  # fmt: skip
    guards: list[str | Sql] = []
    for sql in nullable:
        guards += [sql, " IS NOT NULL AND "]
    return _join("(", *guards, comparison, ")")


def _in(dialect: Dialect, table: Table, node: In) -> Sql:
    operand = _value(dialect, table, node.operand)
    values = [literal.value for literal in node.values if literal.value is not None]
    has_null = len(values) != len(node.values)
    parts: list[Sql] = []
    if values:
        listed = Sql(f" IN ({', '.join('?' for _ in values)})", tuple(_parameter(value) for value in values))
        part = _join(operand, listed)
        if _nullable(table, node.operand) and not has_null:
            part = _join("(", operand, " IS NOT NULL AND ", part, ")")
        parts.append(part)
    if has_null:
        parts.append(_join(operand, " IS NULL"))
    if len(parts) == 1:
        return parts[0]
    return _join("(", parts[0], " OR ", parts[1], ")")


def _predicate(dialect: Dialect, table: Table, node: Call) -> Sql:
    """contains, startswith, endswith as LIKE, the pattern's wildcards escaped."""
    assert node.function in _PREDICATES, "the binder lets only these functions stand as conditions"
    subject = _value(dialect, table, node.args[0])
    pattern_node = node.args[1]
    escape = dialect.like_escape
    if isinstance(pattern_node, Literal):
        text = dialect.escape_like(str(pattern_node.value))
        pattern = {"contains": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}[node.function]
        condition = _join(subject, Sql(f" LIKE ? ESCAPE '{escape}'", (pattern,)))
    else:
        # A pattern from another column: escape its wildcards in SQL.
        other = _value(dialect, table, pattern_node)
        escaped = _fill(_sql_escape_like("{0}", escape), [other])
        pieces = {
            "contains": ("'%'", "{0}", "'%'"),
            "startswith": ("{0}", "'%'"),
            "endswith": ("'%'", "{0}"),
        }[node.function]
        condition = _join(subject, " LIKE ", _fill(dialect.concat(pieces), [escaped]), f" ESCAPE '{escape}'")
    if _nullable(table, node):
        return _join("(", subject, " IS NOT NULL AND ", condition, ")")
    return condition


def _sql_escape_like(expression: str, escape: str) -> str:
    doubled = escape + escape
    return f"REPLACE(REPLACE(REPLACE({expression}, '{escape}', '{doubled}'), '%', '{escape}%'), '_', '{escape}_')"


def _value(dialect: Dialect, table: Table, node: Expression) -> Sql:
    """SQL for `node` as a value; a condition becomes 1 or 0, as neither SQLite nor T-SQL has boolean values."""
    match node:
        case Property():
            column = table.column(node.name)
            assert column is not None, "bound filters name only known columns"
            return Sql(dialect.quote_ident(column.sql_name))
        case Literal():
            return Sql("?", (_parameter(node.value),))
        case Call():
            return _call(dialect, table, node)
        case Arithmetic():
            key = node.operator if node.integer or node.operator not in ("div", "mod") else f"{node.operator}_decimal"
            args = [_value(dialect, table, node.left), _value(dialect, table, node.right)]
            return _fill(dialect.function_template(key), args)
        case Negate():
            return _fill(dialect.function_template("negate"), [_value(dialect, table, node.operand)])
        case Compare() | In() | BoolOp() | Not():
            return _join("CASE WHEN ", _condition(dialect, table, node), " THEN 1 ELSE 0 END")
        case _:
            assert_never(node)


def _call(dialect: Dialect, table: Table, node: Call) -> Sql:
    if node.function == "now":
        assert node.now is not None, "the binder says whether now() is a date or a time"
        return Sql(dialect.function_template(f"now_{node.now}"))
    if node.function in _PREDICATES:
        return _value(dialect, table, Compare("eq", node, Literal(True)))  # as 1 or 0, via its condition
    key = f"substring{len(node.args)}" if node.function == "substring" else node.function
    return _fill(dialect.function_template(key), [_value(dialect, table, arg) for arg in node.args])


def _parameter(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value
