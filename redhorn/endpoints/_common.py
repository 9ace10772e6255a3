"""What every resource endpoint does first and last: resolve the request's target, read its key
segments and conditional headers, and build links and entity tags."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, quote, unquote

from starlette.requests import Request

from redhorn.auth.backends import require_principal
from redhorn.middleware.https import route_path
from redhorn.query.resolve import Target, resolve_target
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


def next_link(request: Request, token: str) -> str:
    """The request's own URL with `$skiptoken` (and no `$skip`): the next page's address."""
    pairs = [(k, v) for k, v in query_pairs(request) if k.lower() not in ("$skiptoken", "$skip")]
    pairs.append(("$skiptoken", token))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(36) + ',()')}" for k, v in pairs)
    return str(request.url.replace(query=query))


def resource_url(request: Request) -> str:
    """The URL of the path without its query string and trailing slash."""
    return str(request.url.replace(query="")).rstrip("/")
