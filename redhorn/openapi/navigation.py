"""`$expand` and `$apply` in the OpenAPI document: each resource's parameters, and the navigation
properties of its row schema.

The navigations are those `redhorn.odata.expand.navigations` derives from the data dictionary's
relations, the very ones the server expands, so the document names what a request may ask for.
An expanded to-one navigation is the target's row or null, a to-many one an array of its rows; the
row schemas carry them as optional properties, each naming its target's row schema in
`x-target` and its description.

Their values are `ExpandedRow`, an open object, rather than a `$ref` to the target's row schema
as OpenAPI.OData writes it. The relations link 238 of the demo's tables with 3,114 navigations, so
with such references every row schema reaches most others: openapi-python-client deep-copies
what each of its 1,600 operations reaches, and took over ten minutes instead of one; tools that
resolve a whole operation (Swagger UI) face the same graph. A generated client reads an expanded
row as a mapping of the target's property names.

`$expand` is a string, not OpenAPI.OData's `style: form, explode: false` array of enumerated
names: openapi-python-client ignores `explode` and repeats the parameter for each item, which the
server refuses as an option given twice; and an enumeration could not hold the nested options
(`OrderLines($top=5)`). The names are in the description, where Swagger UI shows them.

The examples are JSON Schema `examples` of the parameter's schema, not the parameter's `example`:
Swagger UI fills a parameter's `example` into its input, and every "Execute" would then send an
aggregation or an expansion nobody asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redhorn.metadata import Column, Table
from redhorn.odata.apply import MAX_APPLY_LENGTH, METHODS
from redhorn.odata.expand import NESTED_OPTIONS, Navigation
from redhorn.settings import QuerySettings

EXPANDED_ROW = "ExpandedRow"
EXPANDED_ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": "A row of the resource a navigation leads to (its `x-target` names the row schema), "
    "with the properties `$select` chose, and the navigations a nested `$expand` asked for",
}
MAX_EXPAND_LENGTH = 1000
DEFAULT_MAX_EXPAND_DEPTH = QuerySettings().max_expand_depth
EXAMPLE_TOP = 5
# Aliases the `$apply` example tries, in order; the first that names neither a property nor a
# navigation of the resource is taken.
_TOTAL_ALIASES = ("Total", "SumTotal", "TotalSum")
_COUNT_ALIASES = ("Count", "RowCount", "CountOfRows")


def _joined(names: Sequence[str]) -> str:
    return " and ".join(", ".join(names).rsplit(", ", 1)) if len(names) > 1 else names[0]


def _navigation_description(navigation: Navigation) -> str:
    """What an expanded navigation holds, in terms of the columns that link the two rows."""
    targets = _joined(navigation.target_columns)
    sources = _joined(navigation.source_columns)
    if navigation.many:
        return f"With `$expand={navigation.name}`: the {navigation.target} rows whose {targets} is this row's {sources}"
    return (
        f"With `$expand={navigation.name}`: the {navigation.target} whose {targets} is this row's {sources}; "
        "null when there is none"
    )


def navigation_properties(navigations: Sequence[Navigation], schema_names: Mapping[str, str]) -> dict[str, Any]:
    """The row schema's properties for `navigations`: absent unless expanded, so none is required.

    `schema_names` maps each table's English name to its row schema's name in the document.
    """
    row = {"$ref": f"#/components/schemas/{EXPANDED_ROW}"}
    properties: dict[str, Any] = {}
    for navigation in navigations:
        target = schema_names[navigation.target]
        description = _navigation_description(navigation)
        if navigation.many:
            properties[navigation.name] = {
                "type": "array",
                "items": row,
                "description": description,
                "x-target": target,
            }
        else:
            properties[navigation.name] = {
                "anyOf": [row, {"type": "null"}],
                "description": description,
                "x-target": target,
            }
    return properties


def _expand_example(navigations: Sequence[Navigation]) -> str:
    """The first to-one navigation and the first to-many one, the latter with a nested `$top`."""
    one = next((navigation.name for navigation in navigations if not navigation.many), None)
    many = next((navigation.name for navigation in navigations if navigation.many), None)
    parts = ([one] if one else []) + ([f"{many}($top={EXAMPLE_TOP})"] if many else [])
    return ",".join(parts)


def _navigation_list(navigations: Sequence[Navigation], resources: Mapping[str, str], *, many: bool) -> str:
    return ", ".join(
        f"`{navigation.name}` ({resources.get(navigation.target, navigation.target)})"
        for navigation in navigations
        if navigation.many == many
    )


def expand_parameter(
    table: Table, navigations: Sequence[Navigation], resources: Mapping[str, str], *, max_depth: int
) -> dict[str, Any]:
    """`$expand` for `table`, naming each navigation, whether it is to-one or to-many, and its target.

    `resources` maps each table's English name to its resource (path segment), which is how a
    client knows the target: `Customer` (associates).
    """
    nested = ", ".join(f"`{option}`" for option in sorted(NESTED_OPTIONS))
    text = (
        f"Related rows to include in each {table.name}, comma-separated. A navigation may take options in "
        f"parentheses, separated by `;`: {nested} (e.g. `Nav($select=A,B;$filter=A gt 1;$orderby=A desc;"
        f"$top=2)`); navigations nest at most {max_depth} deep unless the server's `Query.MaxExpandDepth` "
        f"says otherwise. Example: `{_expand_example(navigations)}`."
    )
    ones = _navigation_list(navigations, resources, many=False)
    manies = _navigation_list(navigations, resources, many=True)
    if ones:
        text += f"\n\nTo-one (the related row, or null), with the resource it is a row of: {ones}."
    if manies:
        text += f"\n\nTo-many (an array of rows), with the resource they are rows of: {manies}."
    return {
        "name": "$expand",
        "in": "query",
        "description": text,
        "schema": {"type": "string", "maxLength": MAX_EXPAND_LENGTH, "examples": [_expand_example(navigations)]},
    }


def _free_alias(candidates: Sequence[str], taken: set[str]) -> str:
    for alias in candidates:
        if alias.lower() not in taken:
            return alias
    return candidates[0] + "_" + str(len(taken))


def _group_column(table: Table) -> Column | None:
    """The first column not in the key that can be grouped by (not binary); else the key's first."""
    key = {column.name for column in table.key}
    groupable = [column for column in table.columns if column.kind != "binary"]
    return next((column for column in groupable if column.name not in key), groupable[0] if groupable else None)


def apply_example(table: Table, navigations: Sequence[Navigation] = ()) -> str:
    """A `$apply` this resource answers: rows counted per value of a column, and a decimal column summed.

    The aliases name no property and no navigation of the resource (the server refuses the former,
    and the latter would contradict the row schema's type for that name).
    """
    taken = {column.name.lower() for column in table.columns} | {navigation.name.lower() for navigation in navigations}
    aggregates = []
    summed = next((column for column in table.columns if column.kind == "decimal"), None)
    if summed is not None:
        total = _free_alias(_TOTAL_ALIASES, taken)
        taken.add(total.lower())
        aggregates.append(f"{summed.name} with sum as {total}")
    aggregates.append(f"$count as {_free_alias(_COUNT_ALIASES, taken)}")
    group = _group_column(table)
    if group is None:
        return f"aggregate({','.join(aggregates)})"
    return f"groupby(({group.name}),aggregate({','.join(aggregates)}))"


def apply_parameter(table: Table, navigations: Sequence[Navigation] = ()) -> dict[str, Any]:
    """`$apply` for `table`: the transformations the server runs, with an example over its own columns."""
    example = apply_example(table, navigations)
    methods = ", ".join(f"`{method}`" for method in METHODS)
    return {
        "name": "$apply",
        "in": "query",
        "description": "Aggregation (OData Data Aggregation): rows grouped and totalled by the database. "
        "A `/`-separated chain of `filter(condition)` (as `$filter` writes it), then one "
        "`groupby((Prop1,Prop2))`, `groupby((Prop1,Prop2),aggregate(...))` or `aggregate(...)`, then "
        f"`filter(...)` on the groups. An aggregate is `Prop with method as Alias`, the method one of {methods}, "
        "or `$count as Alias`; an alias names no property. `$filter`, `$orderby`, `$top`, `$skip` and `$count` "
        "then apply to the groups and may name group properties and aliases; `$select` cannot be combined. "
        f"Each answer row holds the group properties and the aliases. Example: `{example}`",
        "schema": {"type": "string", "maxLength": MAX_APPLY_LENGTH, "examples": [example]},
    }
