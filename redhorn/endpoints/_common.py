"""What every resource endpoint does first and last: resolve the request's target, read its key
segments and conditional headers, and build links and entity tags."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import msgspec
from starlette.requests import Request

from redhorn.auth.backends import require_principal
from redhorn.endpoints.disconnect import while_connected
from redhorn.errors import InvalidQuery
from redhorn.metadata import Table
from redhorn.middleware.https import route_path
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import AggregatePlan
from redhorn.query.delta import (
    delta_binding,
    prefers_tracking,
    sign_delta_token,
    start_token,
    token_of,
    trackable,
    tracking_of,
)
from redhorn.query.paging import binding_of, cut_page, page_size_of, verify_page_token
from redhorn.query.prepared import PreparedList, prepare_page
from redhorn.query.resolve import Target, resolve_target
from redhorn.query.rows import Rows, fetch_grouped, fetch_page
from redhorn.state import State

JSON = "application/json; odata.metadata=minimal"


def state_of(request: Request) -> State:
    state: State = request.app.state.redhorn
    return state


def target_of(request: Request, state: State, *, with_table: bool = True) -> Target:
    """The authenticated principal and the database (and table) the path names, access and licence checked."""
    principal = require_principal(request)
    resource = request.path_params["resource"] if with_table else None
    return resolve_target(state.metadata_cache, state.licence, principal, request.path_params["database"], resource)


def query_string(request: Request) -> str:
    query: bytes = request.scope.get("query_string", b"")
    return query.decode("latin-1")


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(query_string(request), keep_blank_values=True)


def key_segments(request: Request) -> list[str]:
    """The key segments from the raw path, so that an encoded `/` (%2F) inside a key stays inside it."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = route_path(raw_path.decode("latin-1").split("?")[0], request.scope.get("root_path", ""))
    return [unquote(part) for part in path.split("/")[4:]]


def entity_tag(body: bytes) -> str:
    """The row's `ETag`: a digest of its JSON, so any change to any property changes it."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def listed_tags(header: str | None) -> list[str]:
    """The entity tags an `If-Match` or `If-None-Match` header lists, as written (weak ones with `W/`)."""
    return [tag.strip() for tag in header.split(",")] if header else []


def none_match(tag: str, header: str | None) -> bool:
    """Whether `If-None-Match` names `tag`; a weak comparison, as RFC 9110 asks of it."""
    return tag in (listed.removeprefix("W/") for listed in listed_tags(header))


def accepts_gzip(header: str | None) -> bool:
    """Whether `Accept-Encoding` takes gzip (named or `*`) with a quality above 0: for the documents
    kept compressed in advance, which the compression middleware then leaves as they are."""
    for item in (header or "").split(",")[:64]:
        coding, _, parameters = item.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        name, _, value = parameters.strip().partition("=")
        try:
            quality = float(value) if name.strip().lower() == "q" else 1.0
        except ValueError:
            quality = 0.0
        return quality > 0
    return False


def next_link(request: Request, token: str) -> str:
    """The request's own URL with `$skiptoken` (and no `$skip`): the next page's address."""
    pairs = [(k, v) for k, v in query_pairs(request) if k.lower() not in ("$skiptoken", "$skip")]
    pairs.append(("$skiptoken", token))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(36) + ',()')}" for k, v in pairs)
    return str(request.url.replace(query=query))


def resource_url(request: Request) -> str:
    """The URL of the path without its query string and trailing slash."""
    return str(request.url.replace(query="")).rstrip("/")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list request, read: its rows (cut to the page), `$count`, and the next page's token."""

    prepared: PreparedList
    rows: Rows
    count: int | None
    token: str | None
    # On the last page of a pull that asked to track changes: the signed `$deltatoken`.
    delta_token: str | None = None
    # Whether `odata.track-changes` took: asked for, on a table with change stamps and a key.
    tracked: bool = False


@dataclass(frozen=True, slots=True)
class Groups:
    """One page of a list request with `$apply`: the grouped rows, `$count`, and the next page's token."""

    plan: AggregatePlan
    rows: Rows
    count: int | None
    token: str | None


@dataclass(frozen=True, slots=True)
class ListRequest:
    """What both roots read for a list: the page size asked for, the `$`-options, and what was applied."""

    page_size: int
    pairs: list[tuple[str, str]]
    headers: dict[str, str] | None
    # `Prefer: odata.track-changes`: the last page carries a delta link, where the table allows.
    track_changes: bool = False

    @property
    def grouped(self) -> bool:
        return any(name.lower() == "$apply" for name, _ in self.pairs)

    @property
    def delta(self) -> bool:
        return any(name.lower() == "$deltatoken" for name, _ in self.pairs)

    def applied(self, tracked: bool) -> dict[str, str] | None:
        """The `Preference-Applied` header: the page size, and `odata.track-changes` when it took."""
        given = [value for value in ((self.headers or {}).get("Preference-Applied"),) if value]
        if tracked:
            given.append("odata.track-changes")
        return {"Preference-Applied": ", ".join(given)} if given else None


def list_request(request: Request, state: State) -> ListRequest:
    """The page size (`Prefer: odata.maxpagesize`, with its `Preference-Applied`) and the query pairs."""
    prefer = request.headers.get("prefer")
    page_size, applied = page_size_of(prefer, state.settings.query.max_page_size)
    headers = {"Preference-Applied": applied} if applied else None
    return ListRequest(page_size, query_pairs(request), headers, prefers_tracking(prefer))


def delta_link(request: Request, token: str) -> str:
    """The delta link: the resource with the `$filter` and `$select` it was pulled with, and `$deltatoken`."""
    kept = [(k, v) for k, v in query_pairs(request) if k.lower() in ("$filter", "$select")]
    kept.append(("$deltatoken", token))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(36) + ',()')}" for k, v in kept)
    return str(request.url.replace(query=query))


async def read_page(request: Request, state: State, target: Target, table: Table, asked: ListRequest) -> Page:
    """prepare (parse, plan, compile; first pages cached) -> fetch (stopped if the client leaves) -> page."""
    database, user = target.database.name, target.principal.username
    prepared = prepare_page(
        state.prepared,
        state.metadata_cache.generation,
        state.engine.dialect,
        state.limits,
        state.page_token_key,
        database=database,
        table=table,
        pairs=asked.pairs,
        page_size=asked.page_size,
        user=user,
        schema=target.database,
        max_expand_depth=state.settings.query.max_expand_depth,
    )
    timeout = state.settings.query.statement_timeout_seconds
    binding = binding_of(database, table, prepared.options, user)
    tracking: tuple[Any, ...] | None = None
    if asked.track_changes and trackable(table):
        skiptoken = prepared.options.skiptoken
        if skiptoken is not None:
            tracking = verify_page_token(state.page_token_key, binding, skiptoken).tracking
        else:
            settle = state.settings.query.delta_settle_seconds
            start = start_token(state.engine, database, table, now=dt.datetime.now(), timeout=timeout, settle=settle)
            tracking = tracking_of(await while_connected(request.receive, start))
    rows, count = await while_connected(request.receive, fetch_page(state.engine, database, prepared, timeout=timeout))
    page, token = cut_page(prepared.plan, rows, state.page_token_key, binding, tracking)
    delta_token: str | None = None
    if token is None and tracking is not None:
        delta_binding_text = delta_binding(database, table, prepared.options, user)
        delta_token = sign_delta_token(state.page_token_key, delta_binding_text, token_of(tracking))
    return Page(prepared, page, count, token, delta_token, tracking is not None)


async def read_groups(request: Request, state: State, target: Target, table: Table, asked: ListRequest) -> Groups:
    """`$apply`: parse, plan, compile and fetch a page of groups (never cached: each text plans afresh)."""
    options = parse_query_options(asked.pairs, state.limits)
    if options.expand_text is not None:
        raise InvalidQuery("$expand cannot be used with $apply: groups have no navigations", target="$expand")
    grouped: tuple[AggregatePlan, Rows, str | None, int | None] = await while_connected(
        request.receive,
        fetch_grouped(
            state.engine,
            target.database.name,
            table,
            options,
            state.limits,
            state.page_token_key,
            target.principal.username,
            page_size=asked.page_size,
            timeout=state.settings.query.statement_timeout_seconds,
        ),
    )
    plan, rows, token, count = grouped
    return Groups(plan, rows, count, token)


def unset_if_none(value: Any) -> Any:
    """msgspec's UNSET for an absent envelope member (`@odata.count`, `@odata.nextLink`)."""
    return msgspec.UNSET if value is None else value
