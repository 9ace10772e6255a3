"""The schemas of the API's fixed bodies, generated from the msgspec Structs that write them.

The envelopes, the resource listing, `/health`, the error body and the token answer are each
written by a Struct (`redhorn.encoding`, `redhorn.errors`, `redhorn.auth.endpoint`); their schemas
come from `msgspec.json.schema_components` over those very Structs, so the document cannot say
one thing while the code writes another. A Struct's docstring becomes its schema's description,
which is why those docstrings speak to the API's users.

A page and a write answer hold rows whose schema is a resource's, made from the metadata: their
schemas are the envelope's with the `value` of that resource (`page_schema`, `written_schema`).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from redhorn.auth.endpoint import OAuthErrorBody, TokenResponse
from redhorn.encoding import HealthReport, ListEnvelope, ReadinessReport, ResourceList, WriteAnswer, encode
from redhorn.errors import ErrorBody
from redhorn.writers.model import Message

REF_TEMPLATE = "#/components/schemas/{name}"

# Bodies with a component of their own (their nested Structs get one too: ErrorDetail, Message ...).
FIXED_BODIES: tuple[type[msgspec.Struct], ...] = (
    ErrorBody,
    TokenResponse,
    OAuthErrorBody,
    ResourceList,
    HealthReport,
    ReadinessReport,
)
# Envelopes whose `value` each resource fills in; no component of their own.
_TEMPLATES: tuple[Any, ...] = (ListEnvelope, WriteAnswer[Message])


class _Generated(msgspec.Struct, frozen=True):
    """msgspec's output, kept as JSON: decoding it again is a deep copy at msgspec's speed, so no two
    documents (nor two pages of one) share a dict that a later change to one would change in both."""

    components: bytes  # the components of FIXED_BODIES and of what they nest
    refs: dict[str, str]  # each fixed body's class name -> its component name
    page: bytes  # ListEnvelope's schema
    written: bytes  # WriteAnswer[Message]'s schema


@functools.cache
def _generated() -> _Generated:
    refs, components = msgspec.json.schema_components((*FIXED_BODIES, *_TEMPLATES), ref_template=REF_TEMPLATE)
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in refs]
    page, written = (components.pop(name) for name in names[len(FIXED_BODIES) :])
    for template in (page, written):
        template.pop("title", None)  # each copy is named by its resource's component
    return _Generated(
        components=encode(components),
        refs={body.__name__: name for body, name in zip(FIXED_BODIES, names, strict=False)},
        page=encode(page),
        written=encode(written),
    )


def fixed_components() -> dict[str, dict[str, Any]]:
    """The components of the fixed bodies, by name, fresh for one document."""
    components: dict[str, dict[str, Any]] = msgspec.json.decode(_generated().components)
    return components


def ref(body: type[msgspec.Struct]) -> dict[str, str]:
    """`{"$ref": ...}` to the component of `body`, one of `FIXED_BODIES`."""
    return {"$ref": REF_TEMPLATE.format(name=_generated().refs[body.__name__])}


def page_schema(row_ref: str) -> dict[str, Any]:
    """A page of the resource whose row schema is at `row_ref`: `ListEnvelope` with those rows."""
    schema: dict[str, Any] = msgspec.json.decode(_generated().page)
    schema["properties"]["value"]["items"] = {"$ref": row_ref}
    return schema


def written_schema(row_ref: str, *, many: bool = False) -> dict[str, Any]:
    """A write's answer for the resource whose row schema is at `row_ref`: one row, or with `many` an array."""
    schema: dict[str, Any] = msgspec.json.decode(_generated().written)
    row = {"$ref": row_ref}
    schema["properties"]["value"] = {"type": "array", "items": row} if many else row
    return schema
