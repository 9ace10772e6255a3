"""A database's `$metadata`: the CSDL that OData clients (Power BI, Excel, python-odata) read before
anything else, as XML and as JSON, generated from the crawled metadata for every table.

- One schema, `Visma.Business`; one entity type per table (`Order`), one entity set per table named
  as its resource in the English plural (`Orders`, `OrderLines`, `PriceAndDiscountMatrices`): the
  resource name with the table name's capitals, so the set name matches the resource in any letter
  case and `/odata/9999/orders` and `/api/9999/orders` are the same rows.
- Types come from `redhorn.odata.values.edm_type`, the rule the rows are written by.
- Tables without a key are left out: OData requires every entity type to have one, and declaring
  every column as the key would promise an address (`Set(a=..,b=..,...)`) that need not name one row.
  Their rows stay readable under `/api`.
- `Core.Description` gives each type and property its English name and Visma's table or column
  number, and the members of the value domain where the dictionary knows them.
- `Capabilities` says what the service does, because Power BI folds into a query only what is
  declared: the `$filter` functions the parser knows (read from `redhorn.odata.parser.FUNCTIONS`
  when the document is built, so the list grows with the parser), `$select`, `$count`, `$top`,
  `$skip`, `$orderby` (not on binary properties), and read-only sets. `$expand` is declared
  supported (`ExpandRestrictions/Expandable=true`, `MaxLevels` the default `Query.MaxExpandDepth`),
  with the navigation properties of `redhorn.odata.expand` and their bindings, where the target is
  an entity set. `Org.OData.Aggregation.V1.ApplySupported` names the transformations
  `redhorn.odata.apply` serves (filter, groupby, aggregate, with the standard methods).

Pure: metadata in, bytes or JSON-shaped values out; no HTTP, no SQL. Built by string joins, not a
DOM: 350 tables of 40 columns take well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from typing import Any

from redhorn.metadata import Column, Database, Table
from redhorn.odata import parser
from redhorn.odata.apply import TRANSFORMATIONS
from redhorn.odata.expand import Navigation, navigations
from redhorn.odata.values import edm_type, is_nullable

NAMESPACE = "Visma.Business"
CONTAINER = "Container"
CORE = "Org.OData.Core.V1"
CAPABILITIES = "Org.OData.Capabilities.V1"
AGGREGATION = "Org.OData.Aggregation.V1"
VOCABULARIES = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def entity_set_name(table: Table) -> str:
    """`Orders` for `Order`/`orders`, `PriceAndDiscountMatrices` for `PriceAndDiscountMatrix`.

    The resource name (the English plural, lower case) takes the table name's capitals where the
    two agree, letter by letter; `redhorn.writers.rules.plural_name` agrees wherever the plural only
    adds letters, and this also covers plurals that change the last ones (`Matrix` -> `Matrices`).
    """
    name, resource = table.name, table.resource
    agreed = 0
    limit = min(len(name), len(resource))
    while agreed < limit and name[agreed].lower() == resource[agreed].lower():
        agreed += 1
    return name[:agreed] + resource[agreed:]


def is_served(table: Table) -> bool:
    """Whether the OData service declares `table`: it has a key, and names OData can carry."""
    return (
        bool(table.key)
        and _IDENTIFIER.fullmatch(table.name) is not None
        and _IDENTIFIER.fullmatch(entity_set_name(table)) is not None
        and all(_IDENTIFIER.fullmatch(column.name) for column in table.columns)
    )


def served_tables(database: Database) -> list[Table]:
    """The tables the OData service declares, in the database's order."""
    return [table for table in database.tables if is_served(table)]


def table_description(table: Table) -> str:
    number = f"table {table.number}, " if table.number is not None else ""
    kind = "view" if table.is_view else "table"
    return f"{table.name} ({number}SQL {kind} {table.sql_name})"


def column_description(column: Column) -> str:
    parts = [column.name]
    if column.number is not None:
        parts.append(f" (column {column.number})")
    if column.values:
        members = ", ".join(f"{value} = {name}" for name, value in column.values)
        parts.append(f"; {column.value_domain or 'values'}: {members}")
    elif column.domain == "flags":
        parts.append("; bit flags")
    return "".join(parts)


def filter_functions() -> list[str]:
    """The `$filter` functions the parser accepts now."""
    return list(parser.FUNCTIONS)


def _facets(column: Column, edm: str) -> list[tuple[str, str | int]]:
    facets: list[tuple[str, str | int]] = []
    if edm == "Edm.String" and column.max_length:
        facets.append(("MaxLength", column.max_length))
    elif edm == "Edm.Decimal":
        if column.precision:
            facets.append(("Precision", column.precision))
        facets.append(("Scale", column.scale if column.scale is not None and column.precision else "variable"))
    return facets


def _key_names(table: Table) -> set[str]:
    return {column.sql_name for column in table.key}


def _attribute(text: str) -> str:
    return escape(text, quote=True)


# ---------------------------------------------------------------------------------------------- XML


def _xml_property(column: Column, key: bool) -> str:
    edm = edm_type(column, key=key)
    attributes = f'Name="{column.name}" Type="{edm}"'
    if not is_nullable(column, key=key):
        attributes += ' Nullable="false"'
    for facet, value in _facets(column, edm):
        attributes += f' {facet}="{value}"'
    return (
        f"<Property {attributes}>"
        f'<Annotation Term="{CORE}.Description" String="{_attribute(column_description(column))}"/>'
        "</Property>"
    )


# The `$expand` depth `$metadata` announces: `Query.MaxExpandDepth`'s default (the document is built
# from the metadata alone and cached per crawl, so an installation's other setting is not shown).
MAX_LEVELS = 2


def served_navigations(database: Database, table: Table) -> list[tuple[Navigation, Table]]:
    """`table`'s navigation properties whose target is an entity set too, with that target."""
    found: list[tuple[Navigation, Table]] = []
    by_name = {t.name: t for t in database.tables}
    for nav in navigations(database, table):
        target = by_name.get(nav.target)
        if target is not None and is_served(target):
            found.append((nav, target))
    return found


def _navigation_type(nav: Navigation) -> str:
    return f"Collection({NAMESPACE}.{nav.target})" if nav.many else f"{NAMESPACE}.{nav.target}"


def _xml_entity_type(table: Table, database: Database) -> str:
    keys = _key_names(table)
    refs = "".join(f'<PropertyRef Name="{column.name}"/>' for column in table.key)
    properties = "".join(_xml_property(column, column.sql_name in keys) for column in table.columns)
    properties += "".join(
        f'<NavigationProperty Name="{nav.name}" Type="{_navigation_type(nav)}"'
        + ("/>" if nav.many else ' Nullable="true"/>')
        for nav, _ in served_navigations(database, table)
    )
    return (
        f'<EntityType Name="{table.name}"><Key>{refs}</Key>{properties}'
        f'<Annotation Term="{CORE}.Description" String="{_attribute(table_description(table))}"/>'
        "</EntityType>"
    )


def _xml_record(term: str, **values: bool) -> str:
    properties = "".join(
        f'<PropertyValue Property="{name}" Bool="{"true" if value else "false"}"/>' for name, value in values.items()
    )
    return f'<Annotation Term="{CAPABILITIES}.{term}"><Record>{properties}</Record></Annotation>'


_XML_SET_CAPABILITIES = "".join(
    (
        _xml_record("CountRestrictions", Countable=True),
        f'<Annotation Term="{CAPABILITIES}.TopSupported" Bool="true"/>',
        f'<Annotation Term="{CAPABILITIES}.SkipSupported" Bool="true"/>',
        _xml_record("SelectSupport", Supported=True),
        _xml_record("FilterRestrictions", Filterable=True),
        f'<Annotation Term="{CAPABILITIES}.ExpandRestrictions"><Record>'
        '<PropertyValue Property="Expandable" Bool="true"/>'
        f'<PropertyValue Property="MaxLevels" Int="{MAX_LEVELS}"/></Record></Annotation>',
        _xml_record("SearchRestrictions", Searchable=False),
        _xml_record("InsertRestrictions", Insertable=False),
        _xml_record("UpdateRestrictions", Updatable=False),
        _xml_record("DeleteRestrictions", Deletable=False),
    )
)


def _xml_sort(table: Table) -> str:
    unsortable = [column.name for column in table.columns if column.kind == "binary"]
    paths = (
        '<PropertyValue Property="NonSortableProperties"><Collection>'
        + "".join(f"<PropertyPath>{name}</PropertyPath>" for name in unsortable)
        + "</Collection></PropertyValue>"
        if unsortable
        else ""
    )
    return (
        f'<Annotation Term="{CAPABILITIES}.SortRestrictions"><Record>'
        f'<PropertyValue Property="Sortable" Bool="true"/>{paths}</Record></Annotation>'
    )


def _xml_entity_set(table: Table, database: Database) -> str:
    bindings = "".join(
        f'<NavigationPropertyBinding Path="{nav.name}" Target="{entity_set_name(target)}"/>'
        for nav, target in served_navigations(database, table)
    )
    return (
        f'<EntitySet Name="{entity_set_name(table)}" EntityType="{NAMESPACE}.{table.name}">'
        f"{bindings}{_XML_SET_CAPABILITIES}{_xml_sort(table)}</EntitySet>"
    )


def _xml_parts(database: Database) -> Iterator[str]:
    tables = served_tables(database)
    yield '<?xml version="1.0" encoding="utf-8"?>\n'
    yield '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
    for namespace, alias in ((CORE, "Core"), (CAPABILITIES, "Capabilities"), (AGGREGATION, "Aggregation")):
        yield (
            f'<edmx:Reference Uri="{VOCABULARIES}{namespace}.xml">'
            f'<edmx:Include Namespace="{namespace}" Alias="{alias}"/></edmx:Reference>'
        )
    yield f'<edmx:DataServices><Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{NAMESPACE}">'
    for table in tables:
        yield _xml_entity_type(table, database)
    yield f'<EntityContainer Name="{container_name(tables)}">'
    for table in tables:
        yield _xml_entity_set(table, database)
    functions = "".join(f"<String>{_attribute(name)}</String>" for name in filter_functions())
    yield f'<Annotation Term="{CAPABILITIES}.FilterFunctions"><Collection>{functions}</Collection></Annotation>'
    yield f'<Annotation Term="{CAPABILITIES}.BatchSupported" Bool="false"/>'
    transformations = "".join(f"<String>{name}</String>" for name in TRANSFORMATIONS)
    yield (
        f'<Annotation Term="{AGGREGATION}.ApplySupported"><Record>'
        f'<PropertyValue Property="Transformations"><Collection>{transformations}</Collection></PropertyValue>'
        f'<PropertyValue Property="Rollup" EnumMember="{AGGREGATION}.RollupType/None"/>'
        "</Record></Annotation>"
    )
    yield f'<Annotation Term="{CORE}.Description" String="{_attribute(database_description(database))}"/>'
    yield "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>\n"


def container_name(tables: list[Table]) -> str:
    """`Container`, unless a table already takes that name in the schema."""
    names = {table.name for table in tables}
    name = CONTAINER
    while name in names:
        name += "_"
    return name


def database_description(database: Database) -> str:
    return f"Visma Business database {database.name}, read-only"


def csdl_xml(database: Database) -> bytes:
    """The CSDL XML document (OData v4.0) of `database`."""
    return "".join(_xml_parts(database)).encode("utf-8")


# --------------------------------------------------------------------------------------------- JSON


def _json_property(column: Column, key: bool) -> dict[str, Any]:
    edm = edm_type(column, key=key)
    value: dict[str, Any] = {}
    if edm != "Edm.String":
        value["$Type"] = edm
    if is_nullable(column, key=key):
        value["$Nullable"] = True
    for facet, setting in _facets(column, edm):
        value["$" + facet] = setting
    value[f"@{CORE}.Description"] = column_description(column)
    return value


def _json_entity_type(table: Table, database: Database) -> dict[str, Any]:
    keys = _key_names(table)
    value: dict[str, Any] = {"$Kind": "EntityType", "$Key": [column.name for column in table.key]}
    for column in table.columns:
        value[column.name] = _json_property(column, column.sql_name in keys)
    for nav, _ in served_navigations(database, table):
        entry: dict[str, Any] = {"$Kind": "NavigationProperty", "$Type": f"{NAMESPACE}.{nav.target}"}
        if nav.many:
            entry["$Collection"] = True
        else:
            entry["$Nullable"] = True
        value[nav.name] = entry
    value[f"@{CORE}.Description"] = table_description(table)
    return value


def _json_entity_set(table: Table, database: Database) -> dict[str, Any]:
    unsortable = [column.name for column in table.columns if column.kind == "binary"]
    sort: dict[str, Any] = {"Sortable": True}
    if unsortable:
        sort["NonSortableProperties"] = unsortable
    bindings = {nav.name: entity_set_name(target) for nav, target in served_navigations(database, table)}
    value: dict[str, Any] = {"$Collection": True, "$Type": f"{NAMESPACE}.{table.name}"}
    if bindings:
        value["$NavigationPropertyBinding"] = bindings
    return value | {
        f"@{CAPABILITIES}.CountRestrictions": {"Countable": True},
        f"@{CAPABILITIES}.TopSupported": True,
        f"@{CAPABILITIES}.SkipSupported": True,
        f"@{CAPABILITIES}.SelectSupport": {"Supported": True},
        f"@{CAPABILITIES}.FilterRestrictions": {"Filterable": True},
        f"@{CAPABILITIES}.ExpandRestrictions": {"Expandable": True, "MaxLevels": MAX_LEVELS},
        f"@{CAPABILITIES}.SearchRestrictions": {"Searchable": False},
        f"@{CAPABILITIES}.InsertRestrictions": {"Insertable": False},
        f"@{CAPABILITIES}.UpdateRestrictions": {"Updatable": False},
        f"@{CAPABILITIES}.DeleteRestrictions": {"Deletable": False},
        f"@{CAPABILITIES}.SortRestrictions": sort,
    }


def csdl_json(database: Database) -> dict[str, Any]:
    """The CSDL JSON document of `database`, JSON-shaped (encode it with the process's encoder)."""
    tables = served_tables(database)
    container = container_name(tables)
    schema: dict[str, Any] = {table.name: _json_entity_type(table, database) for table in tables}
    entity_container: dict[str, Any] = {"$Kind": "EntityContainer"}
    for table in tables:
        entity_container[entity_set_name(table)] = _json_entity_set(table, database)
    entity_container[f"@{CAPABILITIES}.FilterFunctions"] = filter_functions()
    entity_container[f"@{CAPABILITIES}.BatchSupported"] = False
    entity_container[f"@{AGGREGATION}.ApplySupported"] = {"Transformations": list(TRANSFORMATIONS), "Rollup": "None"}
    entity_container[f"@{CORE}.Description"] = database_description(database)
    schema[container] = entity_container
    return {
        "$Version": "4.0",
        "$EntityContainer": f"{NAMESPACE}.{container}",
        "$Reference": {
            f"{VOCABULARIES}{namespace}.json": {"$Include": [{"$Namespace": namespace, "$Alias": alias}]}
            for namespace, alias in ((CORE, "Core"), (CAPABILITIES, "Capabilities"), (AGGREGATION, "Aggregation"))
        },
        NAMESPACE: schema,
    }
