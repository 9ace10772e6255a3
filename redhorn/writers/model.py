"""The write request: what a client asks to change, in the shape of Visma Business Services.

VBS's .NET wrapper builds a request as a context (company, culture, context user, site) and, per
table, operations: add rows, select a row by key and change it, delete it. Each row is a list of
assignments made **in order** (`SetIntegerValue`, `SetStringValue`, ... and `SuggestValue` for a
number series), because Visma's business logic runs on each assignment: setting `CustomerNo` on
an order fills in the customer's name, which a later `Name` may override. Child rows join through
a foreign key (`JoinTable`: order lines inside an order); a projection names what to read back.

These Structs mirror that model. The HTTP layer builds them from a request body, keeping the
body's property order; executors (the embedded one, or the VBS transport) run them. Their JSON
form is the contract a bridge on the Visma host implements (`contract_schema`, kept beside this
module as `vbs-write.schema.json`).

Columns are named by SQL name, with Visma's column number where the dictionary knows it (VBS
addresses columns by number only; Data Model Extension columns have numbers in Visma too).
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import msgspec

# On the wire: a JSON string, number (decimals with every digit), boolean or null; binary values
# as base64 text. In Python: str, int, Decimal, bool, bytes or None.
Value = Any


class WriteContext(msgspec.Struct, frozen=True, rename="camel"):
    """Whom and where a request runs as: `rb.AddContext()`."""

    company_no: int
    user_name: str
    culture_id: str = "English__UnitedKingdom"
    site_id: str = "Standard"


class Assign(msgspec.Struct, frozen=True, tag="set", rename="camel"):
    """`row.Set<Type>Value(columnNo, value)`: one assignment, run in its place in the row's order."""

    column: str
    value: Value
    column_no: int | None = None


class Suggest(msgspec.Struct, frozen=True, tag="suggest", rename="camel"):
    """`row.SuggestValue(columnNo)`: take the next value of the column's number series.

    With an interval (the API user's `NumberSerieIntervals` entry for the column), the value is
    the next unused one above the highest assigned in that interval; without, the company's own
    number series for the column gives it.
    """

    column: str
    column_no: int | None = None
    interval_from: int | None = None
    interval_to: int | None = None

    @property
    def interval(self) -> tuple[int, int] | None:
        if self.interval_from is None or self.interval_to is None:
            return None
        return (self.interval_from, self.interval_to)


Step = Assign | Suggest


class RowWrite(msgspec.Struct, frozen=True, rename="camel"):
    """One row's assignments in order, and the child rows joined to it."""

    steps: tuple[Step, ...]
    joins: tuple[Join, ...] = ()


class Join(msgspec.Struct, frozen=True, rename="camel"):
    """`row.JoinTable(fk)`: child rows of another table, their foreign key filled from the parent's key."""

    table: str
    foreign_key: tuple[str, ...]
    rows: tuple[RowWrite, ...]
    table_no: int | None = None


class AddRows(msgspec.Struct, frozen=True, tag="add", rename="camel"):
    """`UseTable(t).AddRow()` for each row: all of them or none."""

    table: str
    rows: tuple[RowWrite, ...]
    table_no: int | None = None


class UpdateRow(msgspec.Struct, frozen=True, tag="update", rename="camel"):
    """`UseTable(t).SelectRow()` by key, then the row's assignments in order.

    `expect`, when given, holds the column values the client last saw (its `If-Match`): the row
    is changed only if it still has them, checked in the same transaction as the change.
    """

    table: str
    key: tuple[Assign, ...]
    row: RowWrite
    table_no: int | None = None
    expect: tuple[Assign, ...] | None = None


class DeleteRow(msgspec.Struct, frozen=True, tag="delete", rename="camel"):
    """`UseTable(t).SelectRow()` by key, then delete it (its joined child rows go with it)."""

    table: str
    key: tuple[Assign, ...]
    table_no: int | None = None
    expect: tuple[Assign, ...] | None = None


Operation = AddRows | UpdateRow | DeleteRow


class WriteRequest(msgspec.Struct, frozen=True, rename="camel"):
    """Everything one HTTP write asks for, dispatched in one round trip, in one transaction."""

    context: WriteContext
    operations: tuple[Operation, ...]
    # `ProjectColumns()`: the columns read back after the business logic; empty for all.
    projection: tuple[str, ...] = ()


class Message(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """A message of Visma's about one operation (and row): the response's `messages`.

    An error names what failed in `code`, one of redhorn's error codes (`RowNotFound`,
    `DuplicateKey`, `InvalidValue`, ...) when the bridge can tell, so the client gets the same
    status through VBS as from the embedded writer; `target` is the property concerned.
    """

    severity: Literal["info", "warning", "error"]
    text: str
    operation: int = 0
    row: int | None = None
    code: str | None = None
    target: str | None = None


class WriteResult(msgspec.Struct, frozen=True, rename="camel"):
    """The rows as read back (per operation, in order) and the messages."""

    rows: tuple[dict[str, Any], ...] = ()
    messages: tuple[Message, ...] = ()


def contract_schema() -> dict[str, Any]:
    """The JSON Schema of the request and the result: the wire contract of the VBS transport.

    Descriptions come from docstrings, whose indentation msgspec has handled differently from one
    release to the next; they are cleaned here so the committed file depends on the model alone.
    """
    _, components = msgspec.json.schema_components((WriteRequest, WriteResult), ref_template="#/$defs/{name}")
    components = _clean_descriptions(components)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "redhorn VBS write contract",
        "description": "The JSON form of redhorn.writers.model: a WriteRequest goes to the bridge on the "
        "Visma host, which runs it through VBS and answers a WriteResult.",
        "$defs": components,
    }


def _clean_descriptions(schema: Any) -> Any:
    """`schema` with every `description` passed through `inspect.cleandoc`."""
    if isinstance(schema, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_clean_descriptions(item) for item in schema]
    return schema
