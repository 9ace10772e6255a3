"""The one value that crosses from compilation to execution."""

from __future__ import annotations

from typing import Any

import msgspec


class Statement(msgspec.Struct, frozen=True):
    """SQL text with `?` placeholders and the values for them, in order.

    No value from a request is ever part of `sql`; identifiers in it come from the metadata.
    """

    sql: str
    params: tuple[Any, ...] = ()
