"""Server-driven paging, end to end: the page size, the `$skiptoken` and the next page's token.

A list request's page size is the server's maximum, or less when the client prefers
(`Prefer: odata.maxpagesize`). One row more than the page is read, so that the last page carries
no nextLink. The token says where the next page starts, signed so that only this server's tokens
are taken.

A token carries the last row's order-by values (the key columns always among them), how many rows
the pull has delivered so far (so `$top` bounds a whole pull), and for tables without a key an
offset instead. It is bound by HMAC to the query it belongs to: company, resource, `$filter`,
`$orderBy`, `$select`, `$top` and user. A token replayed against another query, or altered, fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from redhorn.errors import ApiError, InvalidSkipToken
from redhorn.metadata import Column, Table
from redhorn.middleware.limits import header_number
from redhorn.odata.parser import QueryOptions
from redhorn.sql.select import CountQuery, OrderColumn, SelectQuery


class PageToken(msgspec.Struct, frozen=True, array_like=True):
    values: tuple[Any, ...] = ()
    delivered: int = 0
    offset: int | None = None
    # A pull asked with `Prefer: odata.track-changes`: where its delta link starts, fixed on the
    # first page and carried to the last (see `redhorn.query.delta`).
    tracking: tuple[Any, ...] | None = None


class ListPlan(msgspec.Struct, frozen=True):
    """A list request's query, its `$count` when asked, and what to do with the answer."""

    query: SelectQuery
    page_size: int
    delivered: int
    more_possible: bool
    count: CountQuery | None = None


# Not a response body: decimals as strings keep a token's seek values exact when they come back.
_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(PageToken)
_MAC_BYTES = 16


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, binding: str, payload: bytes) -> bytes:
    return hmac.new(key, binding.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def sign_token(key: bytes, binding: str, payload: bytes) -> str:
    """Opaque token text for `payload`, valid only for the query named by `binding`."""
    return f"{_b64encode(payload)}.{_b64encode(_mac(key, binding, payload))}"


def open_token(key: bytes, binding: str, text: str) -> bytes | None:
    """The payload inside `text` if this server signed it for `binding`; None if it did not.

    Raises:
        ValueError: the text is not a token at all.
    """
    try:
        payload_text, mac_text = text.split(".")
        payload, mac = _b64decode(payload_text), _b64decode(mac_text)
    except (ValueError, TypeError):
        raise ValueError("malformed token") from None
    return payload if hmac.compare_digest(mac, _mac(key, binding, payload)) else None


def sign_page_token(key: bytes, binding: str, token: PageToken) -> str:
    """The opaque `$skiptoken` text for `token`, valid only for the query named by `binding`."""
    return sign_token(key, binding, _encoder.encode(token))


def opened(key: bytes, binding: str, text: str, error: type[ApiError], option: str, link: str) -> bytes:
    """The payload of a token this server signed for `binding`.

    Raises:
        error: the text is malformed, altered, or belongs to another query or user; naming `option`
            and the `link` to follow instead.
    """
    try:
        payload = open_token(key, binding, text)
    except ValueError:
        raise error(f"{option} is malformed", target=option) from None
    if payload is None:
        raise error(f"{option} was not issued for this query; follow {link} as given", target=option)
    return payload


def verify_page_token(key: bytes, binding: str, text: str) -> PageToken:
    """The token inside `text`, if this server made it for the query named by `binding`.

    Raises:
        InvalidSkipToken: the text is malformed, altered, or belongs to another query or user.
    """
    payload = opened(key, binding, text, InvalidSkipToken, "$skiptoken", "@odata.nextLink")
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError:  # pragma: no cover - only a signed payload reaches here
        raise InvalidSkipToken("$skiptoken is malformed", target="$skiptoken") from None


def query_binding(*parts: object) -> str:
    """The text a token is bound to: the parts that define one paged query, joined unambiguously."""
    return "\x1f".join(str(part) for part in parts)


def binding_of(database: str, table: Table, options: QueryOptions, user: str) -> str:
    """The query a token belongs to: company, resource, `$filter`, `$orderBy`, `$select`, `$top`, `$count`, user."""
    select = ",".join(name.lower() for name in options.select) if options.select else "*"
    return query_binding(
        database, table.resource, options.filter_text, options.order_by_text, select, options.top, options.count, user
    )


def page_size_of(prefer: str | None, maximum: int) -> tuple[int, str | None]:
    """The page size, and the `Preference-Applied` to answer: `odata.maxpagesize=N` when it is below the maximum.

    A value that is not plain ASCII digits (`²` passes `str.isdigit`), or is longer than any page
    could be, is not a preference redhorn can honour and is ignored, as RFC 7240 asks.
    """
    if prefer:
        for preference in prefer.split(","):
            name, _, value = preference.strip().partition("=")
            requested = header_number(value, 9) if name.strip().lower() == "odata.maxpagesize" else None
            if requested is not None:
                size = min(max(requested, 1), maximum)
                return size, f"odata.maxpagesize={size}"
    return maximum, None


def next_page_token(plan: ListPlan, rows: list[tuple[Any, ...]], tracking: tuple[Any, ...] | None = None) -> PageToken:
    """The token for the page after `rows` (the page just served, already cut to the page size)."""
    query = plan.query
    delivered = plan.delivered + len(rows)
    if query.table.key:
        last = rows[-1]
        first = 1 if query.json_rows else 0
        index = {column.sql_name: first + i for i, column in enumerate(query.columns)}
        values = tuple(last[index[entry.column.sql_name]] for entry in query.order)
        return PageToken(values, delivered, tracking=tracking)
    return PageToken((), delivered, query.offset + len(rows), tracking)


def cut_page(
    plan: ListPlan,
    rows: list[tuple[Any, ...]],
    key: bytes,
    binding: str,
    tracking: tuple[Any, ...] | None = None,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """The page's rows, and the signed token of the page after them when there is one."""
    if not plan.more_possible or len(rows) <= plan.page_size:
        return rows, None
    page = rows[: plan.page_size]
    return page, sign_page_token(key, binding, next_page_token(plan, page, tracking))


def seek_values(order: tuple[OrderColumn, ...], token: PageToken, *, of: str = "resource") -> tuple[Any, ...]:
    """A token's order-by values, each as its column holds it (decimals travel as strings, to stay exact).

    Raises:
        InvalidSkipToken: the token's values do not fit the order any more, or are malformed.
    """
    if len(token.values) != len(order):
        raise InvalidSkipToken(f"$skiptoken does not fit this {of} any more", target="$skiptoken")
    return tuple(_typed(entry.column, value) for entry, value in zip(order, token.values, strict=True))


def _typed(column: Column, value: Any) -> Any:
    if column.kind == "decimal" and isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise InvalidSkipToken("$skiptoken is malformed", target="$skiptoken") from None
    return value


def page_window(top: int | None, token: PageToken | None, page_size: int) -> tuple[int, int, bool]:
    """How many rows the pull has delivered, how many this page takes, and whether more may follow.

    `$top` bounds the whole pull, so a page takes at most what is left of it; one more row than the
    page is read only when another page may follow.
    """
    delivered = token.delivered if token else 0
    remaining = None if top is None else max(top - delivered, 0)
    take = page_size if remaining is None else min(page_size, remaining)
    return delivered, take, remaining is None or remaining > take
