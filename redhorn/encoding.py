"""JSON out: one msgspec Encoder for the process, and every response body as a Struct.

One encoder, made once (msgspec's performance advice): `ENCODER` writes every response body, the
error body and the token answer included, so they all follow one decimal policy. Every body the API
answers is a Struct declared here or in the module that owns it (`ErrorBody` in `redhorn.errors`,
`TokenResponse` in `redhorn.auth.endpoint`), and the OpenAPI document takes its schemas from these
Structs (`redhorn.openapi.schemas`), so the document cannot drift from what is written.

Rows never become dicts. For each distinct list of properties a Struct type is made once (field
`f0` renamed to `OrderNo`, ...) and every row tuple is unpacked into it; msgspec encodes those
several times faster than dicts, and the property names are escaped once, not per row.

Where the engine can write rows as JSON itself (SQLite's json_object, in C, with the GIL
released), rows arrive as JSON object texts and are joined into the envelope as they are.

Decimal policy: SQL Server's decimal values arrive as `Decimal` and are written as JSON numbers
with every digit kept (never as strings, never through float). SQLite stores decimals as REAL;
they are written with up to 15 significant digits, all that a double holds of a decimal number,
so 12.5 stays 12.5 and a stored 0.30000000000000004 is the 0.3 that was meant.

This module imports `redhorn.metadata` only: `redhorn.errors` imports it, and everything imports
`redhorn.errors`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from redhorn.metadata import Column

ENCODER = msgspec.json.Encoder(decimal_format="number")
"""The process's one JSON encoder; `decimal_format="number"` is the decimal policy above."""

ROW_DECODER = msgspec.json.Decoder(float_hook=Decimal)
"""Reads back a row an engine rendered as JSON, numbers as Decimal, so that a SQL Server decimal
keeps every digit on its way from the row's JSON to the answer."""

# Field types with what the OpenAPI document says of them; msgspec checks Meta only when decoding.
Uri = Annotated[str, msgspec.Meta(extra_json_schema={"format": "uri"})]
Count = Annotated[int, msgspec.Meta(description="With `$count=true`", extra_json_schema={"format": "int64"})]
NextLink = Annotated[
    str,
    msgspec.Meta(
        description="Absolute URL of the next page; absent on the last page", extra_json_schema={"format": "uri"}
    ),
]
MessageT = TypeVar("MessageT")
HealthStatus = Literal["ok", "degraded"]
ReadinessStatus = Literal["ok", "degraded", "unavailable"]
DatabaseStatus = Literal["ok", "unavailable", "starting"]


def encode(value: Any) -> bytes:
    """`value` (a Struct, or JSON-shaped builtins) as JSON bytes, by the process's encoder."""
    return ENCODER.encode(value)


DeltaLink = Annotated[
    str,
    msgspec.Meta(
        description="With `Prefer: odata.track-changes`, on the last page: absolute URL that later answers "
        "only the rows changed and deleted since",
        extra_json_schema={"format": "uri"},
    ),
]


class ListEnvelope(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={"count": "@odata.count", "next_link": "@odata.nextLink", "delta_link": "@odata.deltaLink"},
):
    """A page of rows; follow `@odata.nextLink` for the next one."""

    # `value` is a list of row Structs (`rows_to_structs`) or, on the fast path, one `msgspec.Raw`
    # holding the rows the engine already wrote as a JSON array; the schema says "array" either way,
    # and the OpenAPI document gives each resource's page its own row schema for the items. The
    # docstrings of these Structs are their schemas' descriptions, so they speak to API users.

    count: Count | msgspec.UnsetType = msgspec.UNSET
    value: list[Any]
    next_link: NextLink | msgspec.UnsetType = msgspec.UNSET
    delta_link: DeltaLink | msgspec.UnsetType = msgspec.UNSET


class ODataPage(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={
        "context": "@odata.context",
        "count": "@odata.count",
        "next_link": "@odata.nextLink",
        "delta_link": "@odata.deltaLink",
    },
):
    """A page of an `/odata` entity set: `ListEnvelope` with the `@odata.context` OData v4 asks of every answer."""

    context: Uri
    count: Count | msgspec.UnsetType = msgspec.UNSET
    value: list[Any]
    next_link: NextLink | msgspec.UnsetType = msgspec.UNSET
    delta_link: DeltaLink | msgspec.UnsetType = msgspec.UNSET


class DeltaPage(
    msgspec.Struct,
    kw_only=True,
    omit_defaults=True,
    rename={
        "context": "@odata.context",
        "deletions_tracked": "@redhorn.deletionsTracked",
        "next_link": "@odata.nextLink",
        "delta_link": "@odata.deltaLink",
    },
):
    """A page of changes since a delta link: rows added or changed, and `{"@removed": {"reason":
    "deleted"}, <key>}` for rows deleted. `@redhorn.deletionsTracked` false: deletions are not
    recorded for this table, and none are reported. The last page carries the next delta link."""

    context: Uri | msgspec.UnsetType = msgspec.UNSET
    deletions_tracked: bool
    value: list[Any]
    next_link: NextLink | msgspec.UnsetType = msgspec.UNSET
    delta_link: DeltaLink | msgspec.UnsetType = msgspec.UNSET


class ServiceEntry(msgspec.Struct, frozen=True):
    """One entity set of an OData service document; `url` is relative to the service root."""

    name: str
    kind: Literal["EntitySet"]
    url: str


class ServiceDocument(msgspec.Struct, frozen=True, rename={"context": "@odata.context"}):
    """An OData service root's answer: its entity sets, and where its `$metadata` is."""

    context: Uri
    value: list[ServiceEntry]


class ResourceEntry(msgspec.Struct, frozen=True):
    """One resource: its name in paths, its table's name, its key, and the URLs of its rows and count."""

    name: str
    title: str
    kind: Literal["table", "view"]
    extension: bool
    key: list[str]
    url: Uri
    count: Uri


class ResourceList(msgspec.Struct, frozen=True):
    """The resources of a company (or of `vbsys` or `Catalog`)."""

    value: list[ResourceEntry]


class LicenceReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """The licence: its status, and the licence's terms when there is one; `reason` when it is invalid."""

    # `status` repeats `redhorn.licensing.licence.LicenceStatus` rather than importing it (this module
    # stays below every other); mypy refuses the assignment in `/health` if the two ever differ.

    status: Literal["unlicensed", "valid", "invalid"]
    id: str | msgspec.UnsetType = msgspec.UNSET
    licensee: str | msgspec.UnsetType = msgspec.UNSET
    expires: Annotated[str, msgspec.Meta(description="yyyy-mm-dd hh:mm UTC")] | msgspec.UnsetType = msgspec.UNSET
    days_left: float | msgspec.UnsetType = msgspec.UNSET
    companies: list[int] | Literal["all"] | msgspec.UnsetType = msgspec.UNSET
    reason: str | msgspec.UnsetType = msgspec.UNSET
    last_renewal_error: str | msgspec.UnsetType = msgspec.UNSET


class HealthReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Whether the API and its databases answer; `databases` and `licence` only with credentials."""

    status: HealthStatus
    databases: dict[str, DatabaseStatus] | msgspec.UnsetType = msgspec.UNSET
    licence: LicenceReport | msgspec.UnsetType = msgspec.UNSET


class ReadinessReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`/health/ready` and `/health/live`: whether to send requests here; details only with credentials."""

    status: ReadinessStatus
    databases: dict[str, DatabaseStatus] | msgspec.UnsetType = msgspec.UNSET
    licence: LicenceReport | msgspec.UnsetType = msgspec.UNSET


class WriteAnswer(msgspec.Struct, Generic[MessageT], frozen=True):
    """The row, or rows, as read back after Visma's business logic ran, and Visma's messages about the write."""

    # `value` is the row (or array of rows) as the read path rendered it, spliced in as it is, so a
    # write answers exactly the bytes a GET shows. Generic in the message type so that this module
    # need not import the writers' model: writes use `WriteAnswer[redhorn.writers.model.Message]`.

    value: msgspec.Raw
    messages: Sequence[MessageT]


@functools.lru_cache(maxsize=4096)
def row_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A Struct type whose fields encode as `names`, in order; made once per list of names."""
    fields = [(f"f{i}", Any) for i in range(len(names))]
    return msgspec.defstruct("Row", fields, rename={f"f{i}": name for i, name in enumerate(names)})


def rows_to_structs(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[Any]:
    """Rows as Structs named by `columns`; `width` keeps only the first columns of each row."""
    names = tuple(column.name for column in columns[:width])
    cls = row_type(names)
    if width is not None and rows and len(rows[0]) != width:
        return list(itertools.starmap(cls, (row[:width] for row in rows)))
    return list(itertools.starmap(cls, rows))


def encode_list(
    columns: Sequence[Column],
    rows: Sequence[tuple[Any, ...]],
    *,
    width: int,
    count: int | None = None,
    next_link: str | None = None,
    delta_link: str | None = None,
) -> bytes:
    """The JSON bytes of a list response for `rows` (only their first `width` values are shown)."""
    envelope = ListEnvelope(
        count=msgspec.UNSET if count is None else count,
        value=rows_to_structs(columns, rows, width),
        next_link=msgspec.UNSET if next_link is None else next_link,
        delta_link=msgspec.UNSET if delta_link is None else delta_link,
    )
    return ENCODER.encode(envelope)


def encode_json_list(
    texts: Sequence[bytes], *, count: int | None = None, next_link: str | None = None, delta_link: str | None = None
) -> bytes:
    """The JSON bytes of a list response whose rows are already JSON objects (UTF-8 bytes)."""
    envelope = ListEnvelope(
        count=msgspec.UNSET if count is None else count,
        value=msgspec.Raw(b"[" + b",".join(texts) + b"]"),  # type: ignore[arg-type]  # the fast path, see the class
        next_link=msgspec.UNSET if next_link is None else next_link,
        delta_link=msgspec.UNSET if delta_link is None else delta_link,
    )
    return ENCODER.encode(envelope)


def encode_row(columns: Sequence[Column], row: tuple[Any, ...]) -> bytes:
    """The JSON bytes of one row as an object."""
    return ENCODER.encode(rows_to_structs(columns, [row])[0])
