"""Compile a `SelectQuery` or a `CountQuery` into SQL text and parameters for one dialect.

Identifiers come only from the metadata, through `dialect.quote_ident`; values only as parameters.
Comparisons are written so that a NULL behaves as OData says (null eq 'x' is false, null ne 'x' is
true) even under `not`, rather than SQL's three-valued logic leaking through.

The compiler writes the same SQL for every engine and asks the dialect's hooks where engines
differ; it never asks which dialect it holds. It walks the `$filter` tree with one `match` per
walk, each ending in `assert_never`, so that mypy proves every node type is compiled.
"""

from __future__ import annotations

from typing import Any, assert_never

from redhorn.metadata import Table
from redhorn.odata.ast import BoolOp, Call, Compare, CompareOperator, Expression, In, Literal, Not, Property
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
TRANSFORMS: dict[str, str] = {"tolower": "LOWER", "toupper": "UPPER", "trim": "TRIM"}


def compile_select(dialect: Dialect, query: SelectQuery) -> Statement:
    """`SELECT columns FROM table WHERE filter AND seek ORDER BY order` with the dialect's paging."""
    params: list[Any] = []
    prefix, prefix_params = dialect.select_prefix(query.limit, query.offset)
    params.extend(prefix_params)
    selected: list[str] = []
    if query.json_rows:
        json_sql, json_params = dialect.json_object(tuple((c.name, c.sql_name) for c in query.output))
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
    if query.order:
        sql += " ORDER BY " + ", ".join(
            dialect.quote_ident(entry.column.sql_name) + (" DESC" if entry.descending else "") for entry in query.order
        )
    elif dialect.paging_needs_order_by and query.offset:
        sql += " ORDER BY (SELECT NULL)"
    paging, paging_params = dialect.limit_offset(query.limit, query.offset)
    params.extend(paging_params)
    return Statement(sql + paging, tuple(dialect.adapt_parameter(value) for value in params))


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


def compile_condition(dialect: Dialect, table: Table, node: Expression, params: list[Any]) -> str:
    """SQL for a bound `$filter` condition; values are appended to `params` in text order."""
    match node:
        case BoolOp():
            left = compile_condition(dialect, table, node.left, params)
            right = compile_condition(dialect, table, node.right, params)
            return f"({left} {node.operator.upper()} {right})"
        case Not():
            return f"NOT ({compile_condition(dialect, table, node.operand, params)})"
        case Compare():
            return _compile_compare(dialect, table, node, params)
        case In():
            return _compile_in(dialect, table, node, params)
        case Call():
            return _compile_predicate(dialect, table, node, params)
        case Property():
            value = _compile_value(dialect, table, node, params)
            return f"({value} IS NOT NULL AND {value} <> 0)" if _nullable(table, node) else f"{value} <> 0"
        case Literal():
            return "1 = 1" if node.value else "1 = 0"
        case _:
            assert_never(node)


def _nullable(table: Table, node: Expression) -> bool:
    """Whether `node` can be NULL: a nullable column, or a function of one.

    A literal's NULL is handled where it is compared (`IS NULL`), and conditions are never NULL:
    the compiler writes them in two-valued logic.
    """
    match node:
        case Property():
            column = table.column(node.name)
            return column is not None and column.nullable
        case Call():
            return any(_nullable(table, arg) for arg in node.args)
        case Literal() | Compare() | In() | BoolOp() | Not():
            return False
        case _:
            assert_never(node)


def _compile_compare(dialect: Dialect, table: Table, node: Compare, params: list[Any]) -> str:
    left, right, operator = node.left, node.right, node.operator
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, operator = right, left, MIRRORED[operator]
    if isinstance(right, Literal) and right.value is None:
        value = _compile_value(dialect, table, left, params)
        return f"{value} IS NULL" if operator == "eq" else f"{value} IS NOT NULL"
    left_sql = _compile_value(dialect, table, left, params)
    right_sql = _compile_value(dialect, table, right, params)
    comparison = f"{left_sql} {COMPARISONS[operator]} {right_sql}"
    nullable = [sql for expr, sql in ((left, left_sql), (right, right_sql)) if _nullable(table, expr)]
    if not nullable:
        return comparison
    # Two-valued logic: with a NULL side, only 'ne' holds, and only when the other side is not NULL.
    if operator == "ne":
        if len(nullable) == 2:
            return (
                f"(({comparison}) OR ({left_sql} IS NULL AND {right_sql} IS NOT NULL) "
                f"OR ({left_sql} IS NOT NULL AND {right_sql} IS NULL))"
            )
        return f"({nullable[0]} IS NULL OR {comparison})"
    if operator == "eq" and len(nullable) == 2:
        return f"(({comparison}) OR ({left_sql} IS NULL AND {right_sql} IS NULL))"
    guards = " AND ".join(f"{sql} IS NOT NULL" for sql in nullable)
    return f"({guards} AND {comparison})"


def _compile_in(dialect: Dialect, table: Table, node: In, params: list[Any]) -> str:
    operand = _compile_value(dialect, table, node.operand, params)
    values = [literal.value for literal in node.values if literal.value is not None]
    has_null = len(values) != len(node.values)
    parts: list[str] = []
    if values:
        parts.append(f"{operand} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
        if _nullable(table, node.operand) and not has_null:
            parts[0] = f"({operand} IS NOT NULL AND {parts[0]})"
    if has_null:
        parts.append(f"{operand} IS NULL")
    return f"({' OR '.join(parts)})" if len(parts) > 1 else parts[0]


def _compile_predicate(dialect: Dialect, table: Table, node: Call, params: list[Any]) -> str:
    subject = _compile_value(dialect, table, node.args[0], params)
    pattern_node = node.args[1]
    escape = dialect.like_escape
    if isinstance(pattern_node, Literal):
        text = dialect.escape_like(str(pattern_node.value))
        pattern = {"contains": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}[node.function]
        params.append(pattern)
        condition = f"{subject} LIKE ? ESCAPE '{escape}'"
    else:
        # A pattern from another column: escape its wildcards in SQL.
        other = _compile_value(dialect, table, pattern_node, params)
        escaped = _sql_escape_like(other, escape)
        pieces = {
            "contains": ("'%'", escaped, "'%'"),
            "startswith": (escaped, "'%'"),
            "endswith": ("'%'", escaped),
        }[node.function]
        condition = f"{subject} LIKE {dialect.concat(pieces)} ESCAPE '{escape}'"
    return f"({subject} IS NOT NULL AND {condition})" if _nullable(table, node) else condition


def _sql_escape_like(expression: str, escape: str) -> str:
    doubled = escape + escape
    return f"REPLACE(REPLACE(REPLACE({expression}, '{escape}', '{doubled}'), '%', '{escape}%'), '_', '{escape}_')"


def _compile_value(dialect: Dialect, table: Table, node: Expression, params: list[Any]) -> str:
    """SQL for `node` as a value; a condition becomes 1 or 0, as neither SQLite nor T-SQL has boolean values."""
    match node:
        case Property():
            column = table.column(node.name)
            assert column is not None, "bound filters name only known columns"
            return dialect.quote_ident(column.sql_name)
        case Literal():
            params.append(_parameter(node.value))
            return "?"
        case Call():
            argument = _compile_value(dialect, table, node.args[0], params)
            if node.function == "length":
                return dialect.string_length(argument)
            return f"{TRANSFORMS[node.function]}({argument})"
        case Compare() | In() | BoolOp() | Not():
            return f"CASE WHEN {compile_condition(dialect, table, node, params)} THEN 1 ELSE 0 END"
        case _:
            assert_never(node)


def _parameter(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value
