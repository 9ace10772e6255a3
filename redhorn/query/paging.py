"""`$skiptoken`: where the next page starts, signed so that only this server's tokens are taken.

A token carries the last row's order-by values (the key columns always among them), how many rows
the pull has delivered so far (so `$top` bounds a whole pull), and for tables without a key an
offset instead. It is bound by HMAC to the query it belongs to: company, resource, `$filter`,
`$orderBy`, `$select`, `$top` and user. A token replayed against another query, or altered, fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

from redhorn.errors import InvalidSkipToken


class PageToken(msgspec.Struct, frozen=True, array_like=True):
    values: tuple[Any, ...] = ()
    delivered: int = 0
    offset: int | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(PageToken)
_MAC_BYTES = 16


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, binding: str, payload: bytes) -> bytes:
    return hmac.new(key, binding.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def sign_page_token(key: bytes, binding: str, token: PageToken) -> str:
    """The opaque `$skiptoken` text for `token`, valid only for the query named by `binding`."""
    payload = _encoder.encode(token)
    return f"{_b64encode(payload)}.{_b64encode(_mac(key, binding, payload))}"


def verify_page_token(key: bytes, binding: str, text: str) -> PageToken:
    """The token inside `text`, if this server made it for the query named by `binding`.

    Raises:
        InvalidSkipToken: the text is malformed, altered, or belongs to another query or user.
    """
    try:
        payload_text, mac_text = text.split(".")
        payload, mac = _b64decode(payload_text), _b64decode(mac_text)
    except (ValueError, TypeError):
        raise InvalidSkipToken("$skiptoken is malformed", target="$skiptoken") from None
    if not hmac.compare_digest(mac, _mac(key, binding, payload)):
        raise InvalidSkipToken(
            "$skiptoken was not issued for this query; follow @odata.nextLink as given", target="$skiptoken"
        )
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError:  # pragma: no cover - only a signed payload reaches here
        raise InvalidSkipToken("$skiptoken is malformed", target="$skiptoken") from None


def query_binding(*parts: object) -> str:
    """The text a token is bound to: the parts that define one paged query, joined unambiguously."""
    return "\x1f".join(str(part) for part in parts)
