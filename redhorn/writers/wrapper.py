"""The wrapper writer: a `WriteRequest` replayed on Visma's own .NET wrapper, in this process.

The original product is a .NET application calling Visma's wrapper assemblies; this writer makes
the same calls from Python through pythonnet (`VismaConnection.VbsWriter: "wrapper"`): a
`RequestBuilder` and its context, then per operation `UseTable` by table number, `AddRow` or
`SelectRow` by key, each assignment in body order by column number, `SuggestValue` for number
series, `JoinTable` for order lines with `EscalateErrorToOperation` so that a failing line fails
its head, `ProjectColumns` to read the key back, and one `Dispatch` with the integration user's
credentials. The answer is mapped as the contract writer maps a bridge's (`vbs.check_result`).

Every .NET name called is in `wrapper_names.NAMES`. The wrapper is not known to be thread-safe, so
calls run on one thread of their own, one request at a time, off the event loop. An `If-Match`
on an update or delete is checked by a read `Dispatch` before the write's: VBS has no
compare-and-change, so a change between the two is not seen (the embedded writer checks both in
one transaction).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from redhorn.errors import (
    ApiError,
    InvalidValue,
    PreconditionFailed,
    RowNotFound,
    VbsFailed,
    WrapperLoadError,
    WriteOutcomeUnknown,
    WriterUnavailable,
)
from redhorn.metadata import Column, Database, Table
from redhorn.settings import Settings, VbsNumbers, resolve_path
from redhorn.writers.embedded import same_as_shown
from redhorn.writers.model import (
    AddRows,
    Assign,
    DeleteRow,
    Join,
    Message,
    RowWrite,
    Suggest,
    UpdateRow,
    WriteRequest,
    WriteResult,
)
from redhorn.writers.vbs import WARNING_INTERVAL_SECONDS, address_for_log, check_result
from redhorn.writers.wrapper_names import NAMES, dotnet
from redhorn.writers.wrapper_runtime import WrapperRuntime, load_wrapper

logger = logging.getLogger("redhorn.writers")


class WrapperWriter:
    """Runs write requests through Visma's .NET wrapper against `VbsEndpointAddress`.

    Args:
        settings: the connection (address, integration user, site, culture, assemblies) and timeouts.
        root: the application's root, for a relative `VbsAssemblyPath`.
        database_of: the database's metadata as of now, by name (columns' kinds and numbers).

    Raises:
        WrapperLoadError: the assemblies cannot be loaded, lack a name the driver calls, or the
            settings' `VbsCultureId` is not one of the wrapper's cultures.
    """

    records_receipts = False  # VBS cannot keep a receipt in the write's transaction

    def __init__(self, settings: Settings, root: Path, database_of: Callable[[str], Database]) -> None:
        connection = settings.visma_connection
        self.runtime = load_wrapper(resolve_path(connection.vbs_assembly_path, root))
        self._classes = _Classes(self.runtime)
        self._database_of = database_of
        self._numbers = _Numbers(connection.vbs_numbers)
        self._address = connection.vbs_endpoint_address
        self._shown_address = address_for_log(self._address)
        self._site = connection.vbs_site_id
        self._user = connection.vbs_integration_user
        self._password = connection.vbs_integration_user_password
        self._timeout = settings.writes.vbs_timeout_seconds
        self._connect_timeout = settings.writes.vbs_connect_timeout_seconds
        self._culture = self._classes.enum("CultureId", connection.vbs_culture_id, "VismaConnection.VbsCultureId")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="redhorn-vbs-wrapper")
        self._warned_at: float | None = None

    async def find_receipt(self, database: str, receipt: str) -> WriteResult | None:
        return None

    async def execute(self, database: str, request: WriteRequest, *, receipt: str | None = None) -> WriteResult:
        """Dispatch `request` through the wrapper; raises as the contract writer does (`VbsTransport.execute`)."""
        metadata = self._database_of(database)
        ticket = _Ticket()
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._pool, self._run, metadata, request, ticket)
        try:
            result = await asyncio.wait_for(work, self._timeout)
        except TimeoutError:
            if ticket.abandon():  # still behind other writes: it will not run, nothing was sent
                raise WriterUnavailable(
                    "Visma Business Services is busy with other writes; nothing was written", retry_after=5
                ) from None
            self._warn_unavailable(f"no answer within {self._timeout:g} s")
            raise WriteOutcomeUnknown(
                "Visma Business Services did not answer in time; the write may have been applied", retry_after=5
            ) from None
        check_result(request, result)
        return result

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # On the wrapper's thread --------------------------------------------------------------------

    def _run(self, database: Database, request: WriteRequest, ticket: _Ticket) -> WriteResult:
        if not ticket.start():
            raise WriterUnavailable("Visma Business Services is busy with other writes; nothing was written")
        try:
            for number, operation in enumerate(request.operations):
                if not isinstance(operation, AddRows) and operation.expect:
                    self._check_expected(database, request, number)
            return self._write(database, request)
        except ApiError:
            raise
        except Exception as exc:  # a .NET exception, as pythonnet raises it
            failure = self._failure(exc)
        # Raised outside the handler, so that it has no context: the .NET exception's text may hold
        # the password, and the error log shows an error's cause.
        raise failure

    def _builder(self, request: WriteRequest) -> tuple[Any, Any]:
        context = request.context
        builder = self._classes.new("RequestBuilder")
        ctx = getattr(builder, dotnet("AddContext"))()
        setattr(ctx, dotnet("Context.CompanyNo"), context.company_no)
        setattr(ctx, dotnet("Context.CultureId"), self._culture)
        setattr(ctx, dotnet("Context.UserName"), context.user_name)
        setattr(ctx, dotnet("Context.SiteId"), self._site)
        return builder, ctx

    def _write(self, database: Database, request: WriteRequest) -> WriteResult:
        builder, ctx = self._builder(request)
        projections: list[tuple[Any, Table, tuple[Column, ...]]] = []
        for operation in request.operations:
            table = _table(database, operation.table)
            usage = getattr(ctx, dotnet("UseTable"))(self._numbers.table_no(table, operation.table_no))
            if isinstance(operation, AddRows):
                for row_write in operation.rows:
                    row = getattr(usage, dotnet("AddRow"))()
                    self._fill(database, table, row, row_write, head=None)
                    projections.append(self._project(row, table, request.projection))
                continue
            selection = self._select(table, usage, operation.key)
            row = getattr(selection, dotnet("SelectRow.Row"))
            if isinstance(operation, DeleteRow):
                getattr(row, dotnet("Delete"))()
                continue
            self._fill(database, table, row, operation.row, head=None)
            projections.append(self._project(row, table, request.projection))
        answer = self._dispatch(builder)
        rows = tuple(self._projected(answer, *projection) for projection in projections)
        return WriteResult(rows, self._messages(answer))

    def _check_expected(self, database: Database, request: WriteRequest, number: int) -> None:
        """The `If-Match` of an update or delete: read the columns the client saw, and compare."""
        operation = request.operations[number]
        assert isinstance(operation, UpdateRow | DeleteRow) and operation.expect
        table = _table(database, operation.table)
        builder, ctx = self._builder(request)
        usage = getattr(ctx, dotnet("UseTable"))(self._numbers.table_no(table, operation.table_no))
        row = getattr(self._select(table, usage, operation.key), dotnet("SelectRow.Row"))
        # VBS reads columns by number: one the dictionary has no number for is left out of the comparison
        # (Visma's change stamps, which every change sets, are numbered).
        expect = tuple(a for a in operation.expect if self._numbers.known(table, _column(table, a.column)) is not None)
        columns = tuple(_column(table, assign.column) for assign in expect)
        projection = self._project(row, table, tuple(column.sql_name for column in columns))
        answer = self._dispatch(builder)
        check_result(request, WriteResult(messages=self._messages(answer)), rows=False)
        current = self._projected(answer, *projection)
        if not current:
            shown = "/".join(str(assign.value) for assign in operation.key)
            raise RowNotFound(f"No row of {table.resource!r} has the key {shown!r}")
        for column, assign in zip(columns, expect, strict=True):
            stored = current[column.sql_name]
            if assign.value is None and column.nullable and stored in ("", 0):
                continue  # the wrapper reads a null as its type's "not set"
            if not same_as_shown(column, stored, assign.value):
                raise PreconditionFailed(
                    f"The row of {table.resource!r} has changed since it was read (If-Match)", target="If-Match"
                )

    def _select(self, table: Table, usage: Any, key: tuple[Assign, ...]) -> Any:
        selection = getattr(usage, dotnet("SelectRow"))()
        equal = self._classes.enum("ComparisonOperator", dotnet("ComparisonOperator.EqualTo"))
        for assign in key:
            column = _column(table, assign.column)
            number = self._numbers.column_no(table, column, assign.column_no)
            if column.kind in ("integer", "boolean"):
                getattr(selection, dotnet("IntegerColumnValue"))(number, equal, int(assign.value))
            elif column.kind in ("decimal", "float"):
                getattr(selection, dotnet("DecimalColumnValue"))(number, equal, self._classes.decimal(assign.value))
            else:
                getattr(selection, dotnet("StringColumnValue"))(number, equal, str(assign.value))
        return selection

    def _fill(self, database: Database, table: Table, row: Any, write: RowWrite, head: Any) -> None:
        """The row's steps in order; each assignment of a joined row escalates its errors to the head."""
        for step in write.steps:
            column = _column(table, step.column)
            number = self._numbers.column_no(table, column, step.column_no)
            if isinstance(step, Suggest):
                if step.interval is not None:
                    low, high = step.interval
                    assignment = getattr(row, dotnet("SuggestValue(column, from, to)"))(number, low, high)
                else:
                    assignment = getattr(row, dotnet("SuggestValue"))(number)
            else:
                assignment = self._assign(row, column, number, step.value)
            if head is not None:
                operation = getattr(assignment, dotnet("Assignment.Operation"))
                setattr(operation, dotnet("EscalateErrorToOperation"), head)
        for join in write.joins:
            self._join(database, table, row, join)

    def _join(self, database: Database, table: Table, row: Any, join: Join) -> None:
        child = _table(database, join.table)
        relation = next((r for r in child.relations if r.target == table.name and r.number is not None), None)
        if relation is None or relation.number is None:
            raise InvalidValue(f"Rows of {child.resource!r} have no foreign key to {table.resource!r} known to VBS")
        lines = getattr(row, dotnet("JoinTable"))(relation.number)
        for line_write in join.rows:
            line = getattr(lines, dotnet("AddRow"))()
            self._fill(database, child, line, line_write, head=row)

    def _assign(self, row: Any, column: Column, number: int, value: Any) -> Any:
        kind = column.kind
        if value is None and column.nullable and self.runtime.has("SetNullValue"):
            return getattr(row, dotnet("SetNullValue"))(number)
        if kind in ("integer", "boolean"):
            return getattr(row, dotnet("SetIntegerValue"))(number, int(value or 0))
        if kind in ("decimal", "float"):
            return getattr(row, dotnet("SetDecimalValue"))(number, self._classes.decimal(value or 0))
        if kind == "binary":
            data = base64.b64decode(value) if isinstance(value, str) else bytes(value or b"")
            return getattr(row, dotnet("SetBinaryValue"))(number, data)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        return getattr(row, dotnet("SetStringValue"))(number, "" if value is None else str(value))

    def _project(self, row: Any, table: Table, names: tuple[str, ...]) -> tuple[Any, Table, tuple[Column, ...]]:
        """`ProjectColumns` of the columns named (every numbered column for none), and its operation."""
        if names:
            columns = tuple(_column(table, name) for name in names)
        else:
            columns = tuple(column for column in table.columns if self._numbers.known(table, column) is not None)
        projection = getattr(row, dotnet("ProjectColumns"))()
        for column in columns:
            getattr(projection, dotnet("AddColumn"))(self._numbers.column_no(table, column))
        operation = getattr(projection, dotnet("Projection.Operation"))
        return getattr(operation, dotnet("OperationNo")), table, columns

    def _dispatch(self, builder: Any) -> Any:
        client = self._classes.client(self._address, self._timeout, self._connect_timeout)
        credentials = self._classes.new("Credentials", self._site, self._user, self._password)
        getattr(credentials, dotnet("Credentials.Apply"))(getattr(client, dotnet("ClientCredentials")))
        return getattr(builder, dotnet("Dispatch"))(client)

    def _projected(self, answer: Any, operation_no: Any, table: Table, columns: tuple[Column, ...]) -> dict[str, Any]:
        results = getattr(answer, dotnet("OperationResultDictionary"))
        if not results.ContainsKey(operation_no):
            return {}
        rows = list(getattr(getattr(results[operation_no], dotnet("ResultSet")), dotnet("ResultRows")))
        if not rows:
            return {}
        return {column.sql_name: self._read(rows[0], table, column) for column in columns}

    def _read(self, row: Any, table: Table, column: Column) -> Any:
        number = self._numbers.column_no(table, column)
        if column.kind in ("integer", "boolean"):
            return int(getattr(row, dotnet("GetIntegerValue"))(number))
        if column.kind in ("decimal", "float"):
            return self._classes.from_decimal(getattr(row, dotnet("GetDecimalValue"))(number))
        if column.kind == "binary":
            return bytes(getattr(row, dotnet("GetBinaryValue"))(number))
        return str(getattr(row, dotnet("GetStringValue"))(number))

    def _messages(self, answer: Any) -> tuple[Message, ...]:
        """Every message of the answer once: the response's, then those of failed operations and rows."""
        found: list[Any] = list(getattr(answer, dotnet("Messages")))
        for operation in getattr(answer, dotnet("GetOperationsWithErrors"))():
            found.extend(getattr(operation, dotnet("OperationResult.Messages")))
            for row in getattr(operation, dotnet("GetRowsWithErrors"))():
                found.extend(getattr(row, dotnet("RowResult.Messages")))
        messages: list[Message] = []
        for item in found:
            message = self._message(item)
            if message not in messages:
                messages.append(message)
        if not getattr(answer, dotnet("AllSucceeded")) and not any(m.severity == "error" for m in messages):
            messages.append(Message("error", "Visma Business Services reported a failure without a message"))
        return tuple(messages)

    def _message(self, item: Any) -> Message:
        severity = str(getattr(item, dotnet("Message.Severity"))).lower()
        level = "error" if "error" in severity else "warning" if "warn" in severity else "info"
        code = getattr(item, dotnet("Message.Code")) if self.runtime.has("Message.Code") else None
        target = getattr(item, dotnet("Message.Target")) if self.runtime.has("Message.Target") else None
        text = self._redacted(str(getattr(item, dotnet("Message.Text"))))
        return Message(level, text, code=code or None, target=target or None)  # type: ignore[arg-type]

    def _failure(self, exc: Exception) -> ApiError:
        """A .NET exception as the contract writer answers the same failure; never with the password."""
        net_type = exc.GetType() if hasattr(exc, "GetType") else None

        def meant(key: str) -> bool:
            return net_type is not None and bool(self.runtime.type(key).IsAssignableFrom(net_type))

        if meant("EndpointNotFoundException") or meant("ServerTooBusyException"):
            self._warn_unavailable("no endpoint answers there")
            return WriterUnavailable("Visma Business Services cannot be reached", retry_after=5)
        if meant("TimeoutException"):
            self._warn_unavailable(f"no answer within {self._timeout:g} s")
            return WriteOutcomeUnknown(
                "Visma Business Services did not answer in time; the write may have been applied", retry_after=5
            )
        if meant("MessageSecurityException") or meant("SecurityAccessDeniedException"):
            return VbsFailed("Visma Business Services refused the integration user's credentials")
        name = net_type.FullName if net_type is not None else type(exc).__name__
        text = getattr(exc, "Message", None) or str(exc)
        return VbsFailed(f"Visma Business Services failed: {name}: {self._redacted(str(text))}")

    def _redacted(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _warn_unavailable(self, failure: str) -> None:
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < WARNING_INTERVAL_SECONDS:
            return
        self._warned_at = now
        logger.warning(
            "Visma Business Services at %s is unavailable through the wrapper (%s): writes answer 503 "
            "WriterUnavailable until it answers; check VismaConnection.VbsEndpointAddress",
            self._shown_address,
            failure,
        )


class _Ticket:
    """A write waiting for the wrapper's thread: either it starts, or its caller gives up on it first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "waiting"

    def start(self) -> bool:
        """On the wrapper's thread: whether to run the write (its caller has not given up)."""
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "started"
            return True

    def abandon(self) -> bool:
        """On the event loop, after the timeout: whether the write never started, and now never will."""
        with self._lock:
            if self._state == "started":
                return False
            self._state = "abandoned"
            return True


class _Classes:
    """The wrapper's classes as pythonnet shows them, found by the names of the table."""

    def __init__(self, runtime: WrapperRuntime) -> None:
        self.runtime = runtime
        self._system = importlib.import_module("System")
        self._invariant = importlib.import_module("System.Globalization").CultureInfo.InvariantCulture

    def of(self, key: str) -> Any:
        module, _, name = NAMES[key].name.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def new(self, key: str, *args: Any) -> Any:
        return self.of(key)(*args)

    def enum(self, key: str, member: str, setting: str | None = None) -> Any:
        enum_type = self.runtime.type(key)
        if member not in list(enum_type.GetEnumNames()):
            where = setting or NAMES[key].name
            raise WrapperLoadError(
                f"{where}: {member!r} is not a member of {enum_type.FullName} in {self.runtime.version}"
            )
        return getattr(self.of(key), member)

    def decimal(self, value: Any) -> Any:
        return self._system.Decimal.Parse(str(Decimal(str(value))), self._invariant)

    def from_decimal(self, value: Any) -> Decimal:
        return Decimal(str(value.ToString(self._invariant)))

    def client(self, address: str, timeout: float, connect_timeout: float) -> Any:
        """A `GenericServiceClient` on VBS's binding (message security, UserName credentials) at `address`."""
        security = self.enum("SecurityMode", dotnet("SecurityMode.Message"))
        binding = self.new("WSHttpBinding", security)
        binding.Security.Message.ClientCredentialType = self.enum(
            "MessageCredentialType", dotnet("MessageCredentialType.UserName")
        )
        span = self._system.TimeSpan.FromSeconds
        binding.SendTimeout = binding.ReceiveTimeout = span(timeout)
        binding.OpenTimeout = span(connect_timeout)
        return self.new("GenericServiceClient", binding, self.new("EndpointAddress", address))


def _table(database: Database, sql_name: str) -> Table:
    table = database.table_by_sql_name(sql_name)
    if table is None:
        raise InvalidValue(f"No table {sql_name!r} in {database.name!r}", target=sql_name)
    return table


def _column(table: Table, sql_name: str) -> Column:
    column = table.column_by_sql_name(sql_name)
    if column is None:
        raise InvalidValue(f"No column {sql_name!r} in {table.resource!r}", target=sql_name)
    return column


class _Numbers:
    """Visma's numbers of tables and columns: the dictionary's, else `VismaConnection.VbsNumbers`."""

    def __init__(self, numbers: Mapping[str, VbsNumbers]) -> None:
        self._tables = {name.lower(): entry.table_no for name, entry in numbers.items()}
        self._columns = {
            (table.lower(), column.lower()): number
            for table, entry in numbers.items()
            for column, number in entry.columns.items()
        }

    def table_no(self, table: Table, given: int | None = None) -> int:
        number = given if given is not None else table.number or self._tables.get(table.sql_name.lower())
        if number is None:
            raise InvalidValue(
                f"{table.resource!r} has no Visma table number known to redhorn (VBS addresses tables by number; "
                "VismaConnection.VbsNumbers can give it)",
                target=table.resource,
            )
        return number

    def column_no(self, table: Table, column: Column, given: int | None = None) -> int:
        number = self.known(table, column) if given is None else given
        if number is None:
            raise InvalidValue(
                f"{column.name!r} has no Visma column number known to redhorn (VBS addresses columns by number; "
                "VismaConnection.VbsNumbers can give it)",
                target=column.name,
            )
        return number

    def known(self, table: Table, column: Column) -> int | None:
        return column.number or self._columns.get((table.sql_name.lower(), column.sql_name.lower()))
