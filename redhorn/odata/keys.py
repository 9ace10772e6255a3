"""OData resource paths below a service root: `Orders`, `Orders/$count`, `Orders(1001)`,
`OrderLines(OrderNo=1001,LineNo=2)`, `Items('A''B')`.

The path is read by hand, not split on `/`: a quoted key may hold `/`, `(`, `)`, `,` and `=`, and
only a scanner that knows OData's quoting (`'` doubled inside a string) finds where the key ends.
Each value is then typed by its key column: integers as plain decimal digits, strings only quoted,
so `Orders('1001')` and `Items(1001)` are refused as the wrong type rather than guessed at.

Pure: no HTTP, no SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from redhorn.errors import InvalidKey, RouteNotFound
from redhorn.metadata import Column, Table

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_INTEGER = re.compile(r"[-+]?\d{1,19}")
_NUMBER = re.compile(r"[-+]?\d{1,38}(\.\d{1,38})?([eE][-+]?\d{1,3})?")
MAX_KEY_PARTS = 16  # no Visma key has more columns; a longer list is refused before it is typed


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """What a path below the service root addresses: an entity set, its count, or one entity by key."""

    entity_set: str
    key: str | None = None  # the text between the parentheses, as written
    count: bool = False


def parse_resource_path(path: str) -> ResourcePath:
    """The entity set, key predicate and `/$count` of a percent-decoded path below the service root.

    Raises:
        RouteNotFound: not an entity set's path this service answers (a property, `$batch`, ...).
        InvalidKey: a key predicate without its closing parenthesis.
    """
    match = _NAME.match(path)
    if match is None:
        raise RouteNotFound(f"No entity set is addressed by {path[:100]!r}", target="entitySet")
    name, rest = match.group(), path[match.end() :]
    if rest in ("", "/"):
        return ResourcePath(name)
    if rest == "/$count":
        return ResourcePath(name, count=True)
    if not rest.startswith("("):
        raise RouteNotFound(
            f"The path {path[:100]!r} is not served: an entity set, its /$count, or one entity by key",
            target="entitySet",
        )
    end = _closing_parenthesis(rest)
    if end is None:
        raise InvalidKey(f"The key of {name!r} has no closing parenthesis: {rest[:100]!r}", target="key")
    after = rest[end + 1 :]
    if after not in ("", "/"):
        raise RouteNotFound(
            f"Only the entity itself is served by key, not {after[:100]!r} below it (properties, navigation)",
            target="entitySet",
        )
    return ResourcePath(name, key=rest[1:end])


def _closing_parenthesis(text: str) -> int | None:
    """Where the predicate opened at `text[0]` closes, skipping quoted strings; None if it does not."""
    quoted = False
    index = 1
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "'":
                if text.startswith("'", index + 1):
                    index += 1  # '' is a quote inside the string
                else:
                    quoted = False
        elif char == "'":
            quoted = True
        elif char == ")":
            return index
        elif char == "(":
            return None
        index += 1
    return None


def _split(text: str) -> list[str]:
    """The comma-separated parts of a key predicate, commas inside quoted strings kept."""
    parts: list[str] = []
    start, quoted = 0, False
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted  # a doubled quote toggles twice: still inside
        elif char == "," and not quoted:
            parts.append(text[start:index])
            start = index + 1
            if len(parts) > MAX_KEY_PARTS:
                break
    parts.append(text[start:])
    return parts


def key_values(table: Table, predicate: str, entity_set: str) -> tuple[Any, ...]:
    """The key values a predicate gives, in key order, each as its column's stored type.

    `Orders(1001)` names the one key property by position; `OrderLines(OrderNo=1001,LineNo=2)` names
    each, in any order, each once (names in any letter case, as everywhere in redhorn).

    Raises:
        InvalidKey: the table has no key; a value, a name or the number of values does not fit it.
    """
    if not table.key:
        raise InvalidKey(f"{entity_set!r} has no key; its entities cannot be read one by one", target="key")
    parts = [part.strip() for part in _split(predicate)]
    names = ",".join(column.name for column in table.key)
    if len(parts) != len(table.key):
        raise InvalidKey(
            f"{entity_set!r} is keyed by {len(table.key)} value(s) ({names}); got {len(parts)}", target="key"
        )
    if len(parts) == 1 and not _is_named(parts[0]):
        return (typed_key_value(table.key[0], parts[0]),)
    given: dict[str, str] = {}
    for part in parts:
        name, equals, text = part.partition("=")
        name = name.strip()
        if not equals or not _NAME.fullmatch(name):
            raise InvalidKey(f"A key of several values names each: {entity_set}({names}=...), not {part[:60]!r}")
        lowered = name.lower()
        if lowered in given:
            raise InvalidKey(f"The key property {name!r} is given twice", target=name)
        given[lowered] = text.strip()
    values: list[Any] = []
    for column in table.key:
        literal = given.pop(column.name.lower(), None)
        if literal is None:
            raise InvalidKey(f"The key property {column.name!r} is missing; {entity_set} is keyed by {names}")
        values.append(typed_key_value(column, literal))
    if given:
        unknown = next(iter(given))
        raise InvalidKey(f"{unknown!r} is not a key property of {entity_set!r}; its key is {names}", target=unknown)
    return tuple(values)


def _is_named(part: str) -> bool:
    """Whether a single key part is `Name=value` rather than a bare value (a string may hold `=`)."""
    name, equals, _ = part.partition("=")
    return bool(equals) and _NAME.fullmatch(name.strip()) is not None


def typed_key_value(column: Column, text: str) -> Any:
    """One key literal as the column's stored type.

    Raises:
        InvalidKey: the literal is not of the column's type.
    """
    if column.kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise InvalidKey(f"Key {column.name!r} must be an integer, not {text[:60]!r}", target=column.name)
        number = int(text)
        if not -(2**63) <= number < 2**63:
            raise InvalidKey(f"Key {column.name!r} is out of range: {text[:60]!r}", target=column.name)
        return number
    if column.kind == "decimal":
        if not _NUMBER.fullmatch(text):
            raise InvalidKey(f"Key {column.name!r} must be a number, not {text[:60]!r}", target=column.name)
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
            raise InvalidKey(f"Key {column.name!r} must be a number, not {text[:60]!r}", target=column.name) from None
    if column.kind == "string":
        if len(text) < 2 or not text.startswith("'") or not text.endswith("'"):
            raise InvalidKey(
                f"Key {column.name!r} is a string: quote it, {column.name}='...', not {text[:60]!r}",
                target=column.name,
            )
        body = text[1:-1]
        if "'" in body.replace("''", ""):
            raise InvalidKey(f"A quote inside key {column.name!r} is written twice ('')", target=column.name)
        value = body.replace("''", "'")
        if column.max_length is not None and len(value) > column.max_length:
            raise InvalidKey(
                f"Key {column.name!r} is at most {column.max_length} characters long, got {len(value)}",
                target=column.name,
            )
        return value
    if column.kind == "boolean":
        if text not in ("true", "false"):
            raise InvalidKey(f"Key {column.name!r} must be true or false, not {text[:60]!r}", target=column.name)
        return text == "true"
    raise InvalidKey(f"Key {column.name!r} of type {column.kind} cannot be given in a URL", target=column.name)
