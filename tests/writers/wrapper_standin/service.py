"""The tests' Visma Business Services: runs what the stand-in wrapper recorded, with the embedded writer.

The stand-in assembly's `Dispatch` POSTs the calls it recorded (`UseTable(127)`, `AddRow()`,
`SetIntegerValue(2874, 5)`, ...) as JSON to the client's endpoint address, with the credentials
`Credentials.Apply` put on the client as HTTP Basic. This service checks them (401 otherwise, which
the stand-in throws as WCF's `MessageSecurityException`), reads the calls back into a `WriteRequest`
by table, column and foreign-key number from the demo database's metadata, runs it with the
embedded executor, and answers the messages and the projected rows, which the stand-in reads into
its `ResponseReader`. It runs as a process of its own, as VBS does:

    python -m tests.writers.wrapper_standin.service --folder DATA --user 'Standard\\vbsint' --password P --port N
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import ApiError, CompanyNotFound, RowNotFound
from redhorn.metadata import Column, Database, Metadata, Table, company_database_name
from redhorn.tools.vbs_emulator import _authorised
from redhorn.writers.embedded import EmbeddedExecutor
from redhorn.writers.model import (
    AddRows,
    Assign,
    DeleteRow,
    Join,
    RowWrite,
    Suggest,
    UpdateRow,
    WriteContext,
    WriteRequest,
)
from redhorn.writers.rules import quote
from redhorn.writers.vbs import error_message

_encoder = msgspec.json.Encoder(decimal_format="string")


class Call(msgspec.Struct, frozen=True):
    on: str
    member: str
    args: list[Any]
    result: str | None = None


_calls = msgspec.json.Decoder(list[Call])


@dataclass
class _Row:
    table: Table
    steps: list[Any] = field(default_factory=list)
    joins: list[tuple[Table, tuple[str, ...], list[_Row]]] = field(default_factory=list)
    projected: list[int] = field(default_factory=list)

    def write(self) -> RowWrite:
        joins = tuple(Join(t.sql_name, fk, tuple(r.write() for r in rows), t.number) for t, fk, rows in self.joins)
        return RowWrite(tuple(self.steps), joins)


@dataclass
class _Selection:
    table: Table
    key: list[Assign] = field(default_factory=list)
    row: _Row | None = None
    deleted: bool = False


def value_of(member: str, argument: Any) -> Any:
    if isinstance(argument, str) and argument.startswith("decimal:"):
        return Decimal(argument.removeprefix("decimal:"))
    if isinstance(argument, str) and argument.startswith("binary:"):
        return base64.b64decode(argument.removeprefix("binary:"))
    return argument


class Numbers(msgspec.Struct, frozen=True, rename="pascal"):
    """A table's and its columns' numbers where the dictionary has none, as in `VismaConnection.VbsNumbers`."""

    table_no: int | None = None
    columns: dict[str, int] = {}


# The numbers an installation gives its extension tables and columns, by table SQL name.
EXTENSION_NUMBERS: dict[str, Numbers] = {}


def table_no(table: Table) -> int | None:
    entry = EXTENSION_NUMBERS.get(table.sql_name)
    return table.number or (entry.table_no if entry else None)


def column_no(table: Table, column: Column) -> int | None:
    entry = EXTENSION_NUMBERS.get(table.sql_name)
    return column.number or (entry.columns.get(column.sql_name) if entry else None)


def column_of(table: Table, number: int) -> Column:
    return next(c for c in table.columns if column_no(table, c) == number)


def read_calls(calls: list[Call], database: Database) -> tuple[WriteRequest, list[tuple[_Row | _Selection, Table]]]:
    """The request the calls build, and per `ProjectColumns` (in call order) what it projects."""
    tables = {number: table for table in database.tables if (number := table_no(table)) is not None}
    objects: dict[str, Any] = {}
    context: dict[str, Any] = {}
    operations: list[Any] = []  # _Selection, or [table, [rows]] for rows added
    adds: dict[str, list[Any]] = {}
    projections: list[tuple[_Row | _Selection, Table]] = []
    projected_by: dict[str, Any] = {}
    for call in calls:
        target: Any = objects.get(call.on)
        args = [value_of(call.member, a) for a in call.args]
        if call.member in ("CompanyNo", "UserName", "SiteId", "CultureId"):
            context[call.member] = args[0]
        elif call.member == "UseTable":
            objects[call.result or ""] = ("usage", tables[args[0]])
        elif call.member == "AddRow":
            kind, table = target[0], target[1]
            row = _Row(table)
            if kind == "usage":
                entry = adds.get(call.on)
                if entry is None:
                    entry = adds[call.on] = [table, []]
                    operations.append(entry)
                entry[1].append(row)
            else:  # lines joined to a row
                target[2].append(row)
            objects[call.result or ""] = row
        elif call.member == "JoinTable":
            head: _Row = target
            child = next(t for t in database.tables for r in t.relations if r.number == args[0])
            link = tuple(c.sql_name for c in child.key[: len(head.table.key)])
            rows: list[_Row] = []
            head.joins.append((child, link, rows))
            objects[call.result or ""] = ("lines", child, rows)
        elif call.member in ("SetIntegerValue", "SetStringValue", "SetDecimalValue", "SetBinaryValue"):
            column = column_of(target.table, args[0])
            target.steps.append(Assign(column.sql_name, args[1], column.number))
        elif call.member == "SetNullValue":
            column = column_of(target.table, args[0])
            target.steps.append(Assign(column.sql_name, None, column.number))
        elif call.member == "SuggestValue":
            column = column_of(target.table, args[0])
            interval = (args[1], args[2]) if len(args) == 3 else (None, None)
            target.steps.append(Suggest(column.sql_name, column.number, *interval))
        elif call.member == "SelectRow":
            selection = _Selection(target[1])
            operations.append(selection)
            objects[call.result or ""] = selection
        elif call.member in ("IntegerColumnValue", "StringColumnValue", "DecimalColumnValue"):
            column = column_of(target.table, args[0])
            target.key.append(Assign(column.sql_name, args[2], column.number))
        elif call.member == "Row":
            target.row = target.row or _Row(target.table)
            objects[call.result or ""] = target.row
            projected_by[call.result or ""] = target
        elif call.member == "Delete":
            projected_by[call.on].deleted = True
        elif call.member == "ProjectColumns":
            owner = projected_by.get(call.on, target)
            projections.append((owner, target.table))
            objects[call.result or ""] = target
        elif call.member == "AddColumn":
            target.projected.append(args[0])
    request_operations: list[Any] = []
    for operation in operations:
        if isinstance(operation, _Selection):
            table, key = operation.table, tuple(operation.key)
            if operation.deleted:
                request_operations.append(DeleteRow(table.sql_name, key, table.number))
            elif operation.row is not None and operation.row.steps:
                request_operations.append(UpdateRow(table.sql_name, key, operation.row.write(), table.number))
        else:
            table, rows = operation
            request_operations.append(AddRows(table.sql_name, tuple(r.write() for r in rows), table.number))
    write_context = WriteContext(context["CompanyNo"], context["UserName"], site_id=context["SiteId"])
    return WriteRequest(write_context, tuple(request_operations)), projections


def projected_rows(
    projections: list[tuple[_Row | _Selection, Table]], written: tuple[dict[str, Any], ...], path: Path
) -> list[list[dict[str, Any]]]:
    """Each projection's rows: a written row as the executor read it back; a selection with nothing
    written to it (a read), found by its key."""
    answers: list[list[dict[str, Any]]] = []
    written_rows = iter(written)
    with contextlib.closing(sqlite3.connect(path)) as connection:
        for owner, table in projections:
            row = owner.row if isinstance(owner, _Selection) else owner
            columns = row.projected if row is not None else []
            names = [column_of(table, n).sql_name for n in columns]
            if isinstance(owner, _Selection) and (owner.row is None or not owner.row.steps):
                sql = f"SELECT {', '.join(quote(n) for n in names) or '1'} FROM {quote(table.sql_name)} WHERE "
                sql += " AND ".join(f"{quote(a.column)} = ?" for a in owner.key)
                found = connection.execute(sql, [a.value for a in owner.key]).fetchone()
                values = None if found is None else dict(zip(names, found, strict=True))
            else:
                values = next(written_rows)
            if values is None:
                answers.append([])
                continue
            answers.append([{str(n): shown(values[name]) for n, name in zip(columns, names, strict=True)}])
    return answers


def shown(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def create_service(folder: Path, user: str, password: str) -> Starlette:
    engine = SqliteEngine(folder)
    holder: dict[str, Metadata] = {}
    executor = EmbeddedExecutor(engine.path_of, lambda name: holder["metadata"].databases[name])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["metadata"] = await crawl(engine, load_dictionary())
        try:
            yield
        finally:
            await executor.close()
            await engine.close()

    async def dispatch(request: Request) -> Response:
        if not _authorised(request, user, password):
            return Response(b"unauthorised", status_code=401)
        calls = _calls.decode(await request.body())
        company = next(c.args[0] for c in calls if c.member == "CompanyNo")
        database = company_database_name(company)
        answer: dict[str, Any] = {"messages": [], "projections": []}
        try:
            if database not in holder["metadata"].databases:
                raise CompanyNotFound(f"Company {company} does not exist")
            write, projections = read_calls(calls, holder["metadata"].databases[database])
            result = await executor.execute(database, write) if write.operations else None
            written = result.rows if result is not None else ()
            answer["messages"] = [msgspec.to_builtins(m) for m in result.messages] if result is not None else []
            answer["projections"] = projected_rows(projections, written, engine.path_of(database))
            if projections and not written and not any(answer["projections"]):
                raise RowNotFound("The row selected does not exist")
        except ApiError as error:
            answer["messages"] = [msgspec.to_builtins(error_message(error))]
        return Response(_encoder.encode(answer), media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", dispatch, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--numbers", default="{}", help="VismaConnection.VbsNumbers, as JSON")
    args = parser.parse_args()
    EXTENSION_NUMBERS.update(msgspec.json.decode(args.numbers, type=dict[str, Numbers]))
    app = create_service(args.folder, args.user, args.password)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
