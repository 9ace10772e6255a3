"""The OpenAPI 3 document, built with apispec from the metadata of one company.

Every resource of the company (and of `vbsys` and `Catalog`) gets its list, by-key and `$count`
operations, a schema of its properties (types, formats, nullability, lengths, the key, Visma's
column numbers and value domains, and the navigations `$expand` adds) and a page schema for the
OData envelope; its reads document `$expand` and its list `$apply` (`redhorn.openapi.navigation`). Each resource is its
own tag, and the UI filters tags, so 350 resources stay navigable. Every fixed body (the envelopes,
the resource listing, `/health`, the error body, the token answer) has the schema msgspec makes of
the Struct that writes it (`redhorn.openapi.schemas`), so the document cannot drift from them.

A 320-table company has some 130,000 columns, each in a row and a write schema; its document must
build in well under a second, so the resources' schemas go into the document as built, not
through apispec's deep copy (`_Builder.schema`), and each column's schema is made once for both.

A company's Data Model Extensions make its document differ from another's; the document is built
per company on first use and kept until the metadata changes (see `redhorn.endpoints.docs`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec
from apispec import APISpec

from redhorn.auth.backends import TOKEN_PATH
from redhorn.auth.endpoint import OAuthErrorBody, TokenResponse
from redhorn.encoding import HealthReport, ReadinessReport, ResourceList
from redhorn.errors import ApiError, ErrorBody, error_classes
from redhorn.metadata import Column, Database, Metadata, Table
from redhorn.odata.expand import Navigation, navigations
from redhorn.openapi.navigation import (
    DEFAULT_MAX_EXPAND_DEPTH,
    EXPANDED_ROW,
    EXPANDED_ROW_SCHEMA,
    apply_parameter,
    expand_parameter,
    navigation_properties,
)
from redhorn.openapi.schemas import fixed_components, page_schema, ref, written_schema
from redhorn.writers.rules import LINE_TABLES, plural_name

OPENAPI_VERSION = "3.1.0"
NUMBER_SERIES = {
    "name": "$numberSeries",
    "in": "query",
    "description": "Comma-separated whole-number properties (e.g. `CustomerNo,SupplierNo`) to take from their number "
    "series: the user's NumberSerieIntervals for the column, else the company's default interval",
    "schema": {"type": "string", "maxLength": 1000},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "A key of the client's choosing: a retried create with the same key and body answers the first "
    "answer again instead of creating a second row",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "description": "The ETag the row had when read: the write is refused with 412 if the row has changed since",
    "schema": {"type": "string"},
}
ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "The row's version, for If-Match"}}
QUERY_OPTIONS: list[dict[str, Any]] = [
    {
        "name": "$filter",
        "description": "OData v4 condition: eq ne gt ge lt le, and or not, in (...), null, "
        "add sub mul div mod and unary -, contains startswith endswith tolower toupper length trim "
        "substring indexof concat, year month day (date properties), hour minute second (time "
        "properties), round floor ceiling, now(); date literals 2026-01-01 and times 13:45 for "
        "Visma's yyyymmdd and hhmm integers. Example: `CustomerNo eq 11100 and OrderDate ge 2026-01-01`",
        "schema": {"type": "string", "maxLength": 1000},
    },
    {
        "name": "$select",
        "description": "Comma-separated properties to return, e.g. `OrderNo,Name`",
        "schema": {"type": "string", "maxLength": 1000},
    },
    {
        "name": "$orderby",
        "description": "Properties with `asc` or `desc`, e.g. `OrderDate desc,OrderNo`; the key breaks ties",
        "schema": {"type": "string", "maxLength": 1000},
    },
    {"name": "$top", "description": "At most this many rows in all", "schema": {"type": "integer", "minimum": 0}},
    {
        "name": "$skip",
        "description": "Skip this many rows first",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    {
        "name": "$count",
        "description": "`true` adds `@odata.count`, the size of the whole filtered set",
        "schema": {"type": "boolean"},
    },
    {
        "name": "$skiptoken",
        "description": "Made by the server: follow `@odata.nextLink` rather than writing one",
        "schema": {"type": "string", "maxLength": 1000},
    },
    {
        "name": "$deltatoken",
        "description": "Made by the server: follow `@odata.deltaLink` for the rows changed and deleted since "
        "(takes `$filter` and `$select` as the link has them, and no other option)",
        "schema": {"type": "string", "maxLength": 1000},
    },
    {
        "name": "$format",
        "description": "`json` (a page, the default), or the whole result streamed in one answer: `ndjson` "
        "(one row object a line) or `csv` (UTF-8 with a BOM and a header row); the same as `Accept: "
        "application/x-ndjson` or `text/csv`",
        "schema": {"type": "string", "enum": ["json", "ndjson", "csv"]},
    },
]
PREFER = {
    "name": "Prefer",
    "in": "header",
    "description": "`odata.maxpagesize=N` asks for pages of at most N rows (up to the server's maximum); "
    "`odata.track-changes` puts an `@odata.deltaLink` on the last page (comma-separated, both together)",
    "schema": {"type": "string"},
}
# A list answered whole, as a stream, when `Accept` or `$format` asks for it.
STREAMED_LIST = {
    "application/x-ndjson": {
        "schema": {"type": "string", "description": "One row object a line, as a page's `value` holds them"}
    },
    "text/csv": {"schema": {"type": "string", "description": "UTF-8 with a BOM, a header row, RFC 4180 quoting, CRLF"}},
}
SECURITY: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}, {"oauth2": []}]


# Words whose first vowel letter sounds like a consonant ("a Unit", "a User", "a Eurobond", "a OneTime").
_CONSONANT_SOUNDS = ("uni", "usa", "use", "usu", "uti", "eu", "one")


def with_article(name: str) -> str:
    """`name` after "a" or "an", as it sounds: "an Order", "an OrderLine", "a Product", "a Unit"."""
    lower = name.lower()
    vowel = lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(_CONSONANT_SOUNDS)
    return f"{'an' if vowel else 'a'} {name}"


_NUMERIC_KINDS = ("integer", "decimal", "float")


def _column_schema(column: Column) -> dict[str, Any]:
    """A property's schema as rows show it: JSON type and format, what Visma stores, its column number.

    A column with a value domain names it in the description and lists its members in
    `x-visma-values` (name -> value). Rows are not restricted to the members (no `enum` here): Visma's
    data holds values outside its domains (the demo's orders all have OrderType 0, "not set", which
    OrderType does not list), and a generated client would refuse to read such a row. What a client
    may write is restricted, in `_write_property`.
    """
    schema: dict[str, Any]
    if column.kind == "integer":
        wide = column.sql_type.lower() in ("bigint", "integer")
        schema = {"type": "integer", "format": "int64" if wide else "int32"}
    elif column.kind == "decimal":
        schema = {"type": "number", "format": "decimal"}
        if column.scale is not None:
            schema["x-scale"] = column.scale
    elif column.kind == "float":
        schema = {"type": "number", "format": "double"}
    elif column.kind == "boolean":
        schema = {"type": "boolean"}
    elif column.kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif column.kind == "binary":
        schema = {"type": "string", "contentEncoding": "base64"}
    else:
        schema = {"type": "string"}
        if column.max_length:
            schema["maxLength"] = column.max_length
    notes = []
    if column.domain == "date":
        notes.append("a date as yyyymmdd, 0 when empty")
    elif column.domain == "time":
        notes.append("a time as hhmm")
    elif column.domain == "flags":
        notes.append("a bit field" + (f" of {column.value_domain} values" if column.value_domain else ""))
    if column.values:
        schema["x-visma-values"] = dict(column.values)
        if column.value_domain and column.domain != "flags":
            notes.append(f"{with_article(column.value_domain)} value, named in x-visma-values")
    if column.sql_name != column.name:
        notes.append(f"SQL column {column.sql_name}")
    if not column.known:
        notes.append("not in Visma's dictionary: an extension or customer column")
    if notes:
        text = "; ".join(notes)
        schema["description"] = text[:1].upper() + text[1:]
    if column.number is not None:
        schema["x-visma-column-no"] = column.number
    if column.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _row_schema(table: Table, properties: dict[str, Any]) -> dict[str, Any]:
    """A row of `table`, whose columns' schemas are `properties`."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "x-key": [column.name for column in table.key],
    }
    if table.number is not None:
        schema["x-visma-table-no"] = table.number
    description = f"{table.name} (SQL table {table.sql_name})"
    if not table.known:
        description += "; not in Visma's dictionary: an extension or customer table"
    schema["description"] = description
    return schema


def _error_classes(*, writes: bool) -> dict[str, list[type[ApiError]]]:
    """The documented errors of the tree by status: a read's, or with `writes` a write's as well."""
    statuses: dict[str, list[type[ApiError]]] = {}
    for error in error_classes():
        if error.documented and (writes or not error.writes_only):
            statuses.setdefault(str(error.status), []).append(error)
    return dict(sorted(statuses.items()))


def _errors(*, writes: bool = False) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Error{status}"} for status in _error_classes(writes=writes)}


_STATUS_NOTE = re.compile(r" ?[(][0-9]{3}[^)]*[)]")


def _error_summary(error: type[ApiError]) -> str:
    """`code: what it means`, from the first line of the class's docstring without its status."""
    first = (error.__doc__ or error.code).strip().splitlines()[0]
    return f"{error.code}: {_STATUS_NOTE.sub('', first).strip().rstrip('.')}"


def _enumerated(column: Column) -> bool:
    """Whether a value of `column` is one of its domain's members: not so for a bit field's sums."""
    return bool(column.values) and column.domain != "flags" and column.kind in _NUMERIC_KINDS


def _write_property(column: Column, schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, the property's as rows show it, with `enum` of its domain's members when it has one:
    a client writes a member (and tools such as Swagger UI offer them), though rows may hold others."""
    if not _enumerated(column):
        return schema
    return {**schema, "enum": [value for _, value in column.values] + ([None] if column.nullable else [])}


def _write_schema(table: Table, columns: dict[str, Any], lines: tuple[str, str] | None) -> dict[str, Any]:
    """A row as a write body: any of its properties (their schemas as rows show them, `columns`),
    assigned in the order given."""
    numbered = [column for column in table.key if column.kind == "integer"]
    properties = {column.name: _write_property(column, columns[column.name]) for column in table.columns}
    if lines is not None:
        name, ref = lines
        properties[name] = {"type": "array", "items": {"$ref": ref}, "description": "Lines created with the row"}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "description": f"Properties of {with_article(table.name)} to assign, in this order: Visma's business logic "
        "runs on each assignment, so a later property overrides what an earlier one filled in",
        # Swagger UI's default body: without the numbered keys, which their number series give (a
        # key of 0 in the default body created row 0).
        "example": {column.name: _example_value(column) for column in table.columns if column not in numbered},
    }


_EXAMPLES: dict[str, Any] = {
    "integer": 0,
    "decimal": 0,
    "float": 0,
    "string": "",
    "boolean": False,
    "datetime": "2026-01-01T00:00:00",
    "binary": "",
}


def _example_value(column: Column) -> Any:
    """A value Swagger UI's default body may hold: the first member of a value domain, else a zero."""
    if _enumerated(column):
        return column.values[0][1]  # within the property's enum
    return _EXAMPLES[column.kind]


def _key_parameters(table: Table) -> list[dict[str, Any]]:
    parameters = []
    for column in table.key:
        schema = _column_schema(column)
        if isinstance(schema["type"], list):
            schema["type"] = schema["type"][0]
        schema.pop("x-visma-column-no", None)
        parameters.append(
            {"name": column.name, "in": "path", "required": True, "schema": schema, "description": "Key property"}
        )
    return parameters


def _schema_name_of(table: Table) -> str:
    return "".join(part[:1].upper() + part[1:] for part in table.name.replace("-", "_").split("_")) or table.sql_name


def _schema_name(table: Table, used: set[str], database: Database) -> str:
    base = _schema_name_of(table)
    name = base if base not in used else f"{database.name}{base}"
    used.add(name)
    return name


def _standard_only(metadata: Metadata) -> Metadata:
    """`metadata` without the tables and columns the dictionary does not know (extensions)."""
    databases = {
        name: msgspec.structs.replace(
            database,
            tables=tuple(
                msgspec.structs.replace(
                    table, columns=tuple(c for c in table.columns if c.known), by_name={}, by_sql_name={}
                )
                for table in database.tables
                if table.known
            ),
            by_resource={},  # fresh lookups: replace() would otherwise update the original's
            by_sql_name={},
        )
        for name, database in metadata.databases.items()
    }
    return msgspec.structs.replace(metadata, databases=databases)


class _Builder:
    """Adds databases' resources to `spec`, naming their schemas apart from the fixed ones and each other."""

    def __init__(self, spec: APISpec, *, max_expand_depth: int = DEFAULT_MAX_EXPAND_DEPTH) -> None:
        self.spec = spec
        self.max_expand_depth = max_expand_depth
        spec.components.schemas[EXPANDED_ROW] = dict(EXPANDED_ROW_SCHEMA)
        self.used: set[str] = set(spec.components.schemas)  # a table named like a fixed body is renamed
        self.read_errors = _errors()
        self.write_errors = _errors(writes=True)
        # Parameters every resource shares are written once and referred to: with hundreds of
        # resources, inline copies made most of the document's bytes.
        self.query_options = [self.parameter({**option, "in": "query"}) for option in QUERY_OPTIONS]
        self.prefer = self.parameter(PREFER)
        self.number_series = self.parameter(NUMBER_SERIES)
        self.idempotency_key = self.parameter(IDEMPOTENCY_KEY)
        self.if_match = self.parameter(IF_MATCH)

    def parameter(self, parameter: dict[str, Any]) -> str:
        """`parameter` added once under components; apispec takes its name as a reference to it."""
        name: str = parameter["name"].lstrip("$").replace("-", "")
        if name not in self.spec.components.parameters:
            fields = {key: value for key, value in parameter.items() if key != "in"}
            self.spec.components.parameter(name, parameter["in"], fields)
        return name

    def schema(self, name: str, schema: dict[str, Any]) -> None:
        """Add `schema` as it is: apispec's `components.schema` deep-copies each schema it is given,
        which for a large company took most of the build; these are built for this document alone."""
        if name in self.spec.components.schemas:
            raise ValueError(f"Two schemas are named {name!r}")
        self.spec.components.schemas[name] = schema

    def named_parameter(self, component: str, parameter: dict[str, Any]) -> str:
        """`parameter` added under components as `component`: one resource's own, shared by its operations."""
        fields = {key: value for key, value in parameter.items() if key != "in"}
        self.spec.components.parameter(component, parameter["in"], fields)
        return component

    def add_database(self, database: Database, prefix: str, company_parameter: dict[str, Any] | None) -> None:
        base_parameters: list[dict[str, Any] | str] = [self.parameter(company_parameter)] if company_parameter else []
        label = "company" if company_parameter else database.name
        # Every table's schema name first: a row schema refers to the tables its navigations lead to.
        names = {table.name: _schema_name(table, self.used, database) for table in database.tables}
        resources = {table.name: table.resource for table in database.tables}
        for table in database.tables:
            name = names[table.name]
            navs = navigations(database, table)
            # One schema per column, shared by the row and the write schema.
            properties = {column.name: _column_schema(column) for column in table.columns}
            row_properties = {**properties, **navigation_properties(navs, names)} if navs else properties
            self.schema(name, _row_schema(table, row_properties))
            self.schema(f"{name}Page", page_schema(f"#/components/schemas/{name}"))
            tag = table.resource if company_parameter else f"{database.name.lower()}/{table.resource}"
            self.spec.tag({"name": tag, "description": f"{table.name} ({label})"})
            operation_base = table.resource if company_parameter else f"{database.name.lower()}_{table.resource}"
            path = f"{prefix}/{table.resource}"
            page = {"$ref": f"#/components/schemas/{name}Page"}
            expand = self.expand(name, table, navs, resources)
            apply = self.named_parameter(f"{name}.apply", apply_parameter(table, navs))
            list_parameters = [*base_parameters, *self.query_options, *expand, apply, self.prefer]
            self.get_operation(
                path,
                tag,
                f"list_{operation_base}",
                f"A page of {table.name} rows",
                list_parameters,
                {
                    "description": "A page of rows; follow `@odata.nextLink` for more. With `Accept: "
                    "application/x-ndjson` or `text/csv` (or `$format`), every row in one streamed answer",
                    "content": {"application/json": {"schema": page}, **STREAMED_LIST},
                },
            )
            count_parameters = [*base_parameters, self.query_options[0]]
            self.get_operation(
                f"{path}/$count",
                tag,
                f"count_{operation_base}",
                f"The number of {table.name} rows",
                count_parameters,
                {
                    "description": "The count, as text",
                    "content": {"text/plain": {"schema": {"type": "integer", "minimum": 0}}},
                },
            )
            if table.key:
                key_path = path + "".join(f"/{{{column.name}}}" for column in table.key)
                key_parameters = [*base_parameters, *_key_parameters(table), self.query_options[1], *expand]
                self.get_operation(
                    key_path,
                    tag,
                    f"get_{operation_base}",
                    f"One {table.name} by its key",
                    key_parameters,
                    {
                        "description": "The row",
                        "headers": ETAG_HEADER,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                    },
                )
            if company_parameter is not None and not table.is_view:
                self.add_writes(database, table, properties, name, tag, operation_base, path, base_parameters)

    def expand(
        self, name: str, table: Table, navs: Sequence[Navigation], resources: dict[str, str]
    ) -> list[dict[str, Any] | str]:
        """The `$expand` parameter of `table`'s reads, none when it has no navigations (nothing to expand)."""
        if not navs:
            return []
        parameter = expand_parameter(table, navs, resources, max_depth=self.max_expand_depth)
        return [self.named_parameter(f"{name}.expand", parameter)]

    def add_writes(
        self,
        database: Database,
        table: Table,
        properties: dict[str, Any],
        name: str,
        tag: str,
        operation_base: str,
        path: str,
        base_parameters: Sequence[dict[str, Any] | str],
    ) -> None:
        """POST on the collection; PUT, PATCH and DELETE on a row."""
        lines = None
        for line_table, head_table in LINE_TABLES.items():
            line = database.table_by_sql_name(line_table)
            if head_table == table.sql_name and line is not None:
                lines = (plural_name(line), f"#/components/schemas/{_schema_name_of(line)}Write")
        write_ref = f"#/components/schemas/{name}Write"
        row_ref = f"#/components/schemas/{name}"
        self.schema(f"{name}Write", _write_schema(table, properties, lines))
        body = {"$ref": write_ref}
        create = {
            "tags": [tag],
            "summary": f"Create {with_article(table.name)}, or an array of them (all or none)",
            "operationId": f"create_{operation_base}",
            "parameters": [*base_parameters, self.number_series, self.idempotency_key],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"oneOf": [body, {"type": "array", "items": body}]}}},
            },
            "responses": {
                "201": {
                    "description": "Created; the row as read back after Visma's business logic",
                    "headers": {
                        "Location": {"schema": {"type": "string"}, "description": "The new row's URL"},
                        **ETAG_HEADER,
                    },
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [written_schema(row_ref), written_schema(row_ref, many=True)]}
                        }
                    },
                },
                **self.write_errors,
            },
        }
        self.spec.path(path=path, operations={"post": create})
        if not table.key:
            return
        key_path = path + "".join(f"/{{{column.name}}}" for column in table.key)
        key_parameters = [*base_parameters, *_key_parameters(table)]
        update = {
            "tags": [tag],
            "parameters": [*key_parameters, self.number_series, self.if_match],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {
                    "description": "Changed; the row as read back",
                    "headers": ETAG_HEADER,
                    "content": {"application/json": {"schema": written_schema(row_ref)}},
                },
                **self.write_errors,
            },
        }
        delete = {
            "tags": [tag],
            "summary": f"Delete {with_article(table.name)}" + (" and its lines" if lines else ""),
            "operationId": f"delete_{operation_base}",
            "parameters": [*key_parameters, self.if_match],
            "responses": {"204": {"description": "Deleted"}, **self.write_errors},
        }
        summary = f"Change the properties given of {with_article(table.name)}, in body order"
        operations = {
            "put": {**update, "summary": summary, "operationId": f"replace_{operation_base}"},
            "patch": {**update, "summary": summary, "operationId": f"update_{operation_base}"},
            "delete": delete,
        }
        self.spec.path(path=key_path, operations=operations)

    def get_operation(
        self,
        path: str,
        tag: str,
        operation_id: str,
        summary: str,
        parameters: Sequence[dict[str, Any] | str],
        ok: dict[str, Any],
    ) -> None:
        """A GET operation answering `ok` (200) or one of the error responses."""
        operation = {
            "tags": [tag],
            "summary": summary,
            "operationId": operation_id,
            "parameters": parameters,
            "responses": {"200": ok, **self.read_errors},
        }
        self.spec.path(path=path, operations={"get": operation})


def build_openapi(
    metadata: Metadata,
    company: int,
    *,
    version: str,
    server_url: str = "/",
    standard_only: bool = False,
    max_expand_depth: int = DEFAULT_MAX_EXPAND_DEPTH,
) -> dict[str, Any]:
    """The OpenAPI document for one company's database (with `vbsys` and `Catalog`).

    Args:
        metadata: the crawled databases.
        company: the company whose tables (extensions included) the document describes.
        version: redhorn's version, shown as the API's.
        server_url: the base URL the document names (a path prefix behind `Server.PublicBaseUrl`);
            the token URL of the password flow is under it too.
        standard_only: only Visma's own tables and columns, as the dictionary knows them: the
            public document, which tells nobody what a company added (Data Model Extensions).
        max_expand_depth: how deep `$expand` nests, as the server's `Query.MaxExpandDepth` allows.
    """
    if standard_only:
        metadata = _standard_only(metadata)
    spec = APISpec(
        title="redhorn",
        version=version,
        openapi_version=OPENAPI_VERSION,
        info={
            "description": "Visma Business data over HTTPS: every table as an OData resource. "
            + (
                "This document describes Visma Business's standard tables; with credentials, "
                "`?company=N` describes a company's own, its extensions included."
                if standard_only
                else f"This document describes company {company}; `?company=N` describes another."
            ),
        },
        servers=[{"url": server_url}],
        security=SECURITY,
    )
    _add_shared_components(spec, metadata, server_url.rstrip("/") + TOKEN_PATH)
    builder = _Builder(spec, max_expand_depth=max_expand_depth)
    company_parameter = {
        "name": "companyNo",
        "in": "path",
        "required": True,
        "description": f"The number of a company you have access to (your API user's AccessibleCompanies), "
        f"e.g. {company}",
        "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999, "example": company},
    }
    database = metadata.databases.get(metadata.companies[company].database)
    if database is not None:
        builder.add_database(database, "/api/{companyNo}", company_parameter)
    builder.get_operation(
        "/api/{companyNo}",
        "service",
        # Not `list_resources`: that is the list of Visma's Resource table (`list_` + its resource name).
        "company_resources",
        "The resources of a company: name, key and links",
        [builder.parameter(company_parameter)],
        {"description": "The resources", "content": {"application/json": {"schema": ref(ResourceList)}}},
    )
    for name in (metadata.system_database, metadata.catalog_database):
        if name in metadata.databases:
            builder.add_database(metadata.databases[name], f"/api/{name.lower()}", None)
    _add_fixed_paths(spec)
    document = spec.to_dict()
    document["x-tagGroups"] = _tag_groups(document["tags"])
    return document


def _tag_groups(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {"Company": [], "vbsys": [], "Catalog": [], "Service": []}
    for tag in tags:
        name = tag["name"]
        if name.startswith("vbsys/"):
            groups["vbsys"].append(name)
        elif name.startswith("catalog/"):
            groups["Catalog"].append(name)
        elif name in ("authentication", "service"):
            groups["Service"].append(name)
        else:
            groups["Company"].append(name)
    return [{"name": group, "tags": names} for group, names in groups.items() if names]


def _add_shared_components(spec: APISpec, metadata: Metadata, token_url: str) -> None:
    for name, schema in fixed_components().items():
        spec.components.schema(name, schema)
    for status, errors in _error_classes(writes=True).items():
        response: dict[str, Any] = {
            "description": "; ".join(dict.fromkeys(_error_summary(error) for error in errors)),
            "content": {"application/json": {"schema": ref(ErrorBody)}},
        }
        if any(error.retry_after is not None for error in errors):
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}
        if status == "401":
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Basic and Bearer challenges"}
            }
        spec.components.response(f"Error{status}", response)
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic"})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "description": "The password grant: an API user's username and password for a bearer token",
            "flows": {"password": {"tokenUrl": token_url, "scopes": {}}},
        },
    )


def json_response(description: str, body: type) -> dict[str, Any]:
    """A response whose body is one of redhorn's JSON structs."""
    return {"description": description, "content": {"application/json": {"schema": ref(body)}}}


def service_get(
    spec: APISpec,
    path: str,
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, Any]],
    description: str | None = None,
) -> None:
    """A GET of the service itself (health, metrics), outside any company."""
    operation: dict[str, Any] = {"tags": ["service"], "summary": summary, "operationId": operation_id}
    if description:
        operation["description"] = description
    spec.path(path=path, operations={"get": operation | {"security": security, "responses": responses}})


def _add_fixed_paths(spec: APISpec) -> None:
    spec.tag({"name": "authentication", "description": "Tokens for API users"})
    spec.tag({"name": "service", "description": "Resources of a company, and health"})
    spec.path(
        path="/api/oauth/token",
        operations={
            "post": {
                "tags": ["authentication"],
                "summary": "An access token for an API user (OAuth 2.0 password grant)",
                "operationId": "issue_token",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["grant_type", "username", "password"],
                                "properties": {
                                    "grant_type": {"type": "string", "enum": ["password"]},
                                    "username": {"type": "string"},
                                    "password": {"type": "string", "format": "password"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The token",
                        "content": {"application/json": {"schema": ref(TokenResponse)}},
                    },
                    "400": {"$ref": "#/components/responses/OAuthError"},
                    "429": {"$ref": "#/components/responses/OAuthError"},
                },
            }
        },
    )
    spec.components.response(
        "OAuthError",
        {
            "description": "RFC 6749 error: invalid_request, invalid_grant or unsupported_grant_type",
            "content": {"application/json": {"schema": ref(OAuthErrorBody)}},
        },
    )
    spec.components.security_scheme(
        "metricsToken", {"type": "http", "scheme": "bearer", "description": "The `Metrics.Token` setting"}
    )
    service_get(
        spec,
        "/health/live",
        "health_live",
        "The process answers (no database, no licence): for a liveness probe",
        {"200": json_response("Alive", ReadinessReport)},
        security=[],
    )
    service_get(
        spec,
        "/health/ready",
        "health_ready",
        "Whether to send requests here: the licence holds and the databases answer",
        {
            "200": json_response("`ok` or `degraded`", ReadinessReport),
            "503": json_response("`unavailable`", ReadinessReport)
            | {"headers": {"Retry-After": {"schema": {"type": "integer"}}}},
        },
        security=[{}, *SECURITY],
        description="`ok`: the licence holds and every database answers. `degraded` (still 200): "
        "the licence holds and some company database answers, another does not (its own requests "
        "answer 503). `unavailable` (503 with `Retry-After`): the licence is invalid or no company "
        "database answers. Each database is pinged at most once a second however often this is "
        "polled. With credentials the answer names each database's state and the licence.",
    )
    service_get(
        spec,
        "/metrics",
        "metrics",
        "Prometheus metrics: requests, latency, database pools, writes, throttling, licence",
        {
            "200": {
                "description": "The Prometheus text format",
                "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
            },
            "401": {"description": "Without the metrics token"},
            "404": {"description": "`Metrics.Enabled` is false"},
        },
        security=[{"metricsToken": []}],
        description="Only with `Bearer <Metrics.Token>`, unless `Metrics.Public`; 404 when "
        "`Metrics.Enabled` is false. Under several workers, the sum of them all.",
    )
    service_get(
        spec,
        "/health",
        "health",
        "Liveness and whether each database answers",
        {
            "200": json_response("Every database answers", HealthReport),
            "503": json_response("Some database does not", HealthReport),
        },
        security=[],
    )
