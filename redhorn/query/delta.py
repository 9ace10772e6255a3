"""Delta links: after a full pull, only the rows changed since and the keys of rows deleted since.

**Changes** come from Visma's change stamps, the changed date and time every Visma table carries
(`Table.change_stamps`, from the data dictionary): the time in milliseconds where the table has
it, else `hhmm`. A delta reads the rows stamped at or after where the last one stopped and before
a bound fixed when it starts, ordered by the stamp and then the key (the tie-breaker), and pages
through them by that keyset. The bound is the start of the current stamp unit less
`SETTLE_SECONDS` (so that a write still committing, or a row stamped later in the same minute,
waits for the next delta instead of being passed over); the next delta starts exactly there. A
row is therefore brought again only when it changed again, and never missed. The one exception:
a row changed while the full pull ran may come again in the first delta, with its newest values.

**Deletions** come from what the database remembers (`Dialect.deletion_versions`): SQL Server's
Change Tracking, or the embedded writer's tombstones. They are reported as
`{"@removed": {"reason": "deleted"}, <key>}` before the changed rows, for the whole table (a row
that is gone cannot be tested against `$filter`). Where nothing records them, the delta says so
(`deletions_tracked` False) and reports none. A token older than the oldest deletion the database
still remembers is refused with 410 Gone: the client pulls again in full.

Tokens are signed and bound to the company, resource, `$filter`, `$select` and user, like
`$skiptoken`. No HTTP here.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import msgspec

from redhorn.engines.base import Engine
from redhorn.errors import DeltaTokenExpired, InvalidDeltaToken, InvalidQuery
from redhorn.metadata import Column, Table
from redhorn.odata.ast import BoolOp, Compare, CompareOperator, Expression, Literal, Property
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import QueryOptions
from redhorn.query.paging import opened, query_binding, sign_token
from redhorn.query.plan import can_render_json, select_columns
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import OrderColumn, SelectQuery

# How long a write may take to commit after its stamp, and how far the writer's clock may run
# behind this server's: rows stamped within it wait for the next delta (`Query.DeltaSettleSeconds`).
SETTLE_SECONDS = 2.0

Stamp = tuple[int, int]


class DeltaToken(msgspec.Struct, frozen=True, array_like=True):
    """Where a delta starts, and once it has started, where it ends and how far it has come.

    `since`: changes stamped at or after it; `version`: deletions after it (None: deletions were
    not recorded when the token was made). `until`/`through` bound the delta being read; `phase`
    0 reads deletions, 1 changes; `after` is the position within the phase.
    """

    since: Stamp
    version: int | None
    issued: int
    until: Stamp | None = None
    through: int | None = None
    phase: int = 0
    after: tuple[Any, ...] = ()


class DeltaPage(msgspec.Struct, frozen=True):
    """One page of a delta: removed keys, changed rows (as `query` reads them), and what follows."""

    query: SelectQuery
    removed: list[tuple[Any, ...]]
    rows: list[tuple[Any, ...]]
    deletions_tracked: bool
    next_token: DeltaToken | None
    delta_token: DeltaToken | None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(DeltaToken)


def delta_binding(database: str, table: Table, options: QueryOptions, user: str) -> str:
    """What a delta token is bound to: company, resource, `$filter`, `$select` and user."""
    select = ",".join(name.lower() for name in options.select) if options.select else "*"
    return query_binding("delta", database, table.resource, options.filter_text, select, user)


def sign_delta_token(key: bytes, binding: str, token: DeltaToken) -> str:
    return sign_token(key, binding, _encoder.encode(token))


def open_delta_token(key: bytes, binding: str, text: str) -> DeltaToken:
    """The token inside `text`, if this server made it for this very query and user.

    Raises:
        InvalidDeltaToken: malformed, altered, or made for another query or user.
    """
    payload = opened(key, binding, text, InvalidDeltaToken, "$deltatoken", "@odata.deltaLink")
    try:
        return _decoder.decode(payload)
    except msgspec.ValidationError:  # pragma: no cover - only a signed payload reaches here
        raise InvalidDeltaToken("$deltatoken is malformed", target="$deltatoken") from None


def stamp_columns(table: Table) -> tuple[Column, Column] | None:
    """The changed date and time columns (milliseconds where the table has them), or None."""
    stamps = table.change_stamps
    if stamps is None or not table.key:
        return None
    day = table.column(stamps.changed_date)
    moment = table.column(stamps.changed_time_ms or stamps.changed_time)
    return (day, moment) if day is not None and moment is not None else None


def trackable(table: Table) -> bool:
    """Whether the table can answer delta links: it has a key and change stamps."""
    return stamp_columns(table) is not None


def bound(table: Table, now: dt.datetime, settle: float = SETTLE_SECONDS) -> Stamp:
    """The stamp a delta starting at `now` reads up to (not including): the start of the stamp
    unit `settle` seconds ago, in the table's time resolution."""
    columns = stamp_columns(table)
    assert columns is not None
    moment = now - dt.timedelta(seconds=settle)
    day = moment.year * 10000 + moment.month * 100 + moment.day
    stamps = table.change_stamps
    assert stamps is not None
    if stamps.changed_time_ms and columns[1].name == stamps.changed_time_ms:
        return day, ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000 + moment.microsecond // 1000
    return day, moment.hour * 100 + moment.minute


async def deletion_state(engine: Engine, database: str, table: Table, *, timeout: float) -> tuple[int, int] | None:
    """(current version, oldest complete version) where the database records `table`'s deletions; else None."""
    dialect = engine.dialect
    (tracked,) = (await engine.fetch(database, dialect.deletions_tracked(table.sql_name), timeout=timeout))[0]
    if not tracked:
        return None
    current, oldest = (await engine.fetch(database, dialect.deletion_versions(table.sql_name), timeout=timeout))[0]
    return int(current or 0), int(oldest or 0)


async def start_token(
    engine: Engine, database: str, table: Table, *, now: dt.datetime, timeout: float, settle: float = SETTLE_SECONDS
) -> DeltaToken:
    """The token of a delta link for a full pull starting `now`: changes from its bound, deletions
    after the current version."""
    state = await deletion_state(engine, database, table, timeout=timeout)
    return DeltaToken(bound(table, now, settle), None if state is None else state[0], int(time.time()))


def prefers_tracking(prefer: str | None) -> bool:
    """Whether a `Prefer` header asks for `odata.track-changes` (RFC 7240: names are case-insensitive)."""
    return bool(prefer) and any(
        item.split("=", 1)[0].strip().lower() == "odata.track-changes" for item in (prefer or "").split(",")
    )


def tracking_of(token: DeltaToken) -> tuple[Any, ...]:
    """A delta link's start as a page token carries it."""
    return (*token.since, token.version, token.issued)


def token_of(tracking: tuple[Any, ...]) -> DeltaToken:
    """The delta link's token from what the page tokens carried (the inverse of `tracking_of`)."""
    day, moment, version, issued = tracking
    return DeltaToken((int(day), int(moment)), None if version is None else int(version), int(issued))


def check_delta_options(options: QueryOptions) -> None:
    """A delta link takes `$filter` and `$select` (as it was given them) and nothing else.

    Raises:
        InvalidQuery: naming the option that cannot go with `$deltatoken`.
    """
    for given, name in (
        (options.order_by, "$orderby"),
        (options.top is not None, "$top"),
        (options.skip, "$skip"),
        (options.count, "$count"),
        (options.skiptoken is not None, "$skiptoken"),
        (options.expand_text is not None, "$expand"),
        (options.apply_text is not None, "$apply"),
    ):
        if given:
            raise InvalidQuery(f"{name} cannot be used with $deltatoken; follow the delta link as given", target=name)


async def read_delta(
    engine: Engine,
    database: str,
    table: Table,
    options: QueryOptions,
    token: DeltaToken,
    *,
    page_size: int,
    json_rows: bool,
    now: dt.datetime,
    timeout: float,
    settle: float = SETTLE_SECONDS,
) -> DeltaPage:
    """One page of the delta `token` names: first the deletions, then the changed rows.

    Raises:
        InvalidQuery: the table cannot be tracked any more, or `$filter` does not fit it.
        DeltaTokenExpired: the database no longer remembers every deletion since the token.
    """
    columns = stamp_columns(table)
    if columns is None:
        raise InvalidQuery(f"{table.resource!r} has no change stamps to read a delta from", target="$deltatoken")
    state = await deletion_state(engine, database, table, timeout=timeout) if token.version is not None else None
    if token.until is None:
        if token.version is not None and (state is None or token.version < state[1]):
            raise DeltaTokenExpired(
                "The database no longer remembers every deletion since this delta link; pull the resource again "
                "in full (without $deltatoken) to get a new one",
                target="$deltatoken",
            )
        token = msgspec.structs.replace(
            token, until=bound(table, now, settle), through=state[0] if state is not None else None, phase=0, after=()
        )
    assert token.until is not None
    removed: list[tuple[Any, ...]] = []
    if token.phase == 0 and token.version is not None and token.through is not None:
        fetched = await engine.fetch(
            database,
            engine.dialect.deleted_keys(
                table.sql_name,
                tuple(column.sql_name for column in table.key),
                token.version,
                token.through,
                token.after or None,
                page_size + 1,
            ),
            timeout=timeout,
        )
        removed = [engine.dialect.deleted_key_row(tuple(row)) for row in fetched]
        if len(removed) > page_size:
            removed = removed[:page_size]
            following = msgspec.structs.replace(token, after=removed[-1])
            return DeltaPage(
                _changes_query(table, options, token, columns, 0, json_rows),
                [row[1:] for row in removed],
                [],
                True,
                following,
                None,
            )
    after = token.after if token.phase == 1 else ()
    take = page_size - len(removed)
    tracked = token.version is not None
    keys = [row[1:] for row in removed]
    if take <= 0:  # the page is full of the last deletions: the changes start on the next one
        query = _changes_query(table, options, token, columns, 0, json_rows)
        return DeltaPage(query, keys, [], tracked, msgspec.structs.replace(token, phase=1, after=()), None)
    query = _changes_query(table, options, token, columns, take + 1, json_rows, after)
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout)
    if query.json_rows:
        rows = engine.dialect.json_row_bytes(rows)
    if len(rows) > take:
        page = list(rows[:take])
        following = msgspec.structs.replace(token, phase=1, after=_position(query, page[-1]))
        return DeltaPage(query, keys, page, tracked, following, None)
    finished = DeltaToken(token.until, token.through, int(time.time()))
    return DeltaPage(query, keys, list(rows), tracked, None, finished)


def _changes_query(
    table: Table,
    options: QueryOptions,
    token: DeltaToken,
    columns: tuple[Column, Column],
    limit: int,
    json_rows: bool,
    after: tuple[Any, ...] = (),
) -> SelectQuery:
    """Rows stamped in [since, until) that `$filter` keeps, by stamp then key, past `after`."""
    assert token.until is not None
    output = select_columns(table, options.select)
    day, moment = columns
    stamp_range: Expression = BoolOp("and", _at_or_after(day, moment, token.since), _before(day, moment, token.until))
    where = stamp_range if options.filter is None else BoolOp("and", bind_filter(options.filter, table), stamp_range)
    order = (OrderColumn(day), OrderColumn(moment), *(OrderColumn(column) for column in table.key))
    json_rows = json_rows and can_render_json(output)
    read = tuple(entry.column for entry in order)
    return SelectQuery(
        table=table,
        columns=read if json_rows else output + tuple(c for c in read if c not in output),
        output=output,
        json_rows=json_rows,
        where=where,
        order=order,
        limit=limit,
        seek=after or None,
    )


def _at_or_after(day: Column, moment: Column, stamp: Stamp) -> Expression:
    return _stamp_compare(day, moment, stamp, "gt", "ge")


def _before(day: Column, moment: Column, stamp: Stamp) -> Expression:
    return _stamp_compare(day, moment, stamp, "lt", "lt")


def _stamp_compare(
    day: Column, moment: Column, stamp: Stamp, day_op: CompareOperator, moment_op: CompareOperator
) -> Expression:
    """(day, moment) against `stamp`, written out: another day past it, or the same day and the time."""
    same_day = Compare("eq", Property(day.name), Literal(stamp[0]))
    return BoolOp(
        "or",
        Compare(day_op, Property(day.name), Literal(stamp[0])),
        BoolOp("and", same_day, Compare(moment_op, Property(moment.name), Literal(stamp[1]))),
    )


def _position(query: SelectQuery, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A read row's order values: where the next page seeks past."""
    first = 1 if query.json_rows else 0
    index = {column.sql_name: first + i for i, column in enumerate(query.columns)}
    return tuple(row[index[entry.column.sql_name]] for entry in query.order)
