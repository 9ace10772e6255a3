"""The `$apply` option (OData Data Aggregation v4.0): its parser and its syntax tree.

Power BI and Excel fold "group by" and "summarize" into `$apply`, so that a million order lines
reach the client as a few thousand totals instead of a million rows. redhorn supports the part
they fold and every database can run as one GROUP BY:

- `filter(<boolean expression>)`, the expression as `$filter` writes it (parsed by `parse_filter`);
- `groupby((Prop1,Prop2))` and `groupby((Prop1,Prop2),aggregate(...))`;
- `aggregate(Prop with sum|min|max|average|countdistinct as Alias, $count as Alias, ...)` alone;
- a `/`-separated chain of these, at most `MAX_TRANSFORMATIONS` long. Whether a chain can be
  run (one grouping, filters before or after it) is the planner's question: the parser only
  knows syntax, as for `$filter`.

Like the rest of `redhorn.odata` it knows no SQL and no metadata: names are checked against a
table by the planner (`redhorn.query.aggregate`). Every error is an `ODataError` with target
`$apply` naming the culprit and its 0-based position in the `$apply` text.
"""

from __future__ import annotations

import re
from typing import Literal as TypingLiteral, TypeAlias

import msgspec

from redhorn.errors import ODataError
from redhorn.odata.ast import Expression
from redhorn.odata.parser import DEFAULT_LIMITS, MAX_NAME_LENGTH, QueryLimits, parse_filter

# The aggregation methods redhorn compiles; `$metadata` declares exactly these (ApplySupported).
AggregateMethod = TypingLiteral["sum", "min", "max", "average", "countdistinct"]
METHODS: tuple[AggregateMethod, ...] = ("sum", "min", "max", "average", "countdistinct")
# The transformations redhorn runs, for `$metadata` too.
TRANSFORMATIONS: tuple[str, ...] = ("filter", "groupby", "aggregate")
# Power BI folds a filter and one groupby; ten steps is far more than any client writes, and
# bounds the work a crafted URL can ask for.
MAX_TRANSFORMATIONS = 10
# The longest `$apply` text: Power BI's URLs stop at 2,048 characters; `$filter` allows 4,000.
MAX_APPLY_LENGTH = 4000
# Columns grouped by and aggregates asked for in one transformation: more than any report needs,
# and below what SQL Server allows in a GROUP BY or a select list.
MAX_GROUP_PROPERTIES = 32
MAX_AGGREGATES = 32

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STEP = re.compile(r"\s*([A-Za-z_$][A-Za-z0-9_]*)\s*\(")
_AGGREGATE_ITEM = re.compile(
    r"\s*(?P<subject>\$count|[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\s+with\s+(?P<method>[A-Za-z_][A-Za-z0-9_]*))?"
    r"\s+as\s+(?P<alias>[A-Za-z_][A-Za-z0-9_]*)\s*",
    re.IGNORECASE,
)


class GroupProperty(msgspec.Struct, frozen=True):
    """A property named in `groupby((...))`, as written."""

    name: str
    position: int = 0


class Aggregate(msgspec.Struct, frozen=True):
    """`Prop with method as Alias`, or `$count as Alias` (then `property` is None and `method` "count")."""

    property: str | None
    method: AggregateMethod | TypingLiteral["count"]
    alias: str
    position: int = 0


class FilterStep(msgspec.Struct, frozen=True, tag=True):
    condition: Expression
    position: int = 0


class GroupByStep(msgspec.Struct, frozen=True, tag=True):
    properties: tuple[GroupProperty, ...]
    aggregates: tuple[Aggregate, ...] = ()
    position: int = 0


class AggregateStep(msgspec.Struct, frozen=True, tag=True):
    aggregates: tuple[Aggregate, ...]
    position: int = 0


Transformation: TypeAlias = FilterStep | GroupByStep | AggregateStep


class Apply(msgspec.Struct, frozen=True):
    """A parsed `$apply`: its transformations in order, and its text (a page token is bound to it)."""

    steps: tuple[Transformation, ...]
    text: str


def _error(message: str, position: int) -> ODataError:
    return ODataError(f"{message} at position {position} in $apply", target="$apply", position=position)


def parse_apply(text: str, limits: QueryLimits = DEFAULT_LIMITS) -> Apply:
    """Parse `$apply` text into its transformations.

    Raises:
        ODataError: malformed syntax, an unknown transformation or method, or a text over the limits.
    """
    if not text.strip():
        raise ODataError("$apply is empty", target="$apply")
    if len(text) > MAX_APPLY_LENGTH:
        raise ODataError(f"$apply is longer than {MAX_APPLY_LENGTH} characters", target="$apply")
    pieces = _split(text, 0, "/", MAX_TRANSFORMATIONS)
    if len(pieces) > MAX_TRANSFORMATIONS:
        raise ODataError(
            f"$apply chains more than {MAX_TRANSFORMATIONS} transformations", target="$apply", position=pieces[-1][1]
        )
    return Apply(tuple(_transformation(piece, position, limits) for piece, position in pieces), text)


def _split(text: str, base: int, separator: str, most: int) -> list[tuple[str, int]]:
    """`text` cut at `separator` outside parentheses and string literals, with each piece's position.

    Stops after `most + 1` pieces, so a crafted text of thousands of separators costs no more.
    """
    pieces: list[tuple[str, int]] = []
    depth = 0
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted  # a doubled '' inside a literal toggles twice
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _error("Unbalanced ')'", base + index)
        elif char == separator and depth == 0:
            pieces.append((text[start:index], base + start))
            start = index + 1
            if len(pieces) > most:
                return pieces
    if quoted:
        raise _error("Unterminated string literal", base + text.rfind("'"))
    if depth:
        raise _error("Unbalanced '('", base + len(text))
    pieces.append((text[start:], base + start))
    return pieces


def _call(text: str, position: int) -> tuple[str, str, int, int]:
    """`name(inner)` -> (name, inner, position of the name, position of inner); nothing may follow.

    Raises:
        ODataError: not a call of that shape.
    """
    match = _STEP.match(text)
    stripped = text.strip()
    if match is None or not stripped.endswith(")"):
        shown = stripped[:40] or "nothing"
        raise _error(f"Expected a transformation such as groupby((...)) but found {shown!r}", position)
    inner_start = match.end()
    # The '(' after the name must close at the very end: `filter(a)/x` was split already.
    depth = 0
    quoted = False
    end = text.rstrip()
    for index in range(inner_start - 1, len(end)):
        char = end[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0 and index != len(end) - 1:
                raise _error(f"Unexpected {end[index + 1 :][:40]!r} after {match.group(1)}(...)", position + index + 1)
    name_position = position + match.start(1)
    return match.group(1), end[inner_start:-1], name_position, position + inner_start


def _transformation(text: str, position: int, limits: QueryLimits) -> Transformation:
    name, inner, name_position, inner_position = _call(text, position)
    lowered = name.lower()
    if lowered == "filter":
        return FilterStep(_filter(inner, inner_position, limits), name_position)
    if lowered == "groupby":
        return _groupby(inner, inner_position, name_position)
    if lowered == "aggregate":
        return AggregateStep(_aggregates(inner, inner_position), name_position)
    supported = ", ".join(TRANSFORMATIONS)
    raise _error(f"Unknown or unsupported transformation {name!r} (supported: {supported})", name_position)


def _filter(inner: str, position: int, limits: QueryLimits) -> Expression:
    """The condition of `filter(...)`, its errors placed in the `$apply` text."""
    if not inner.strip():
        raise _error("filter() needs a condition", position)
    try:
        return parse_filter(inner, limits)
    except ODataError as exc:
        # Positions in the message are the filter's own; the error's position is the `$apply` text's.
        where = position + (exc.position or 0)
        raise ODataError(f"In filter() of $apply: {exc.message}", target="$apply", position=where) from None


def _groupby(inner: str, position: int, name_position: int) -> GroupByStep:
    parts = _split(inner, position, ",", 1)
    first, first_position = parts[0]
    rest = inner[len(first) + 1 :] if len(parts) > 1 else ""
    rest_position = first_position + len(first) + 1
    stripped = first.strip()
    if not (stripped.startswith("(") and stripped.endswith(")")):
        raise _error("groupby expects a parenthesized list of properties first: groupby((Prop1,Prop2))", first_position)
    list_position = first_position + first.index("(") + 1
    names = _split(stripped[1:-1], list_position, ",", MAX_GROUP_PROPERTIES)
    if len(names) > MAX_GROUP_PROPERTIES:
        raise _error(f"groupby names more than {MAX_GROUP_PROPERTIES} properties", names[-1][1])
    properties: list[GroupProperty] = []
    seen: set[str] = set()
    for raw, raw_position in names:
        name = raw.strip()
        at = raw_position + (len(raw) - len(raw.lstrip()))
        if "/" in name:
            raise _error(f"Grouping by a navigation path ({name[:MAX_NAME_LENGTH]!r}) is not supported", at)
        if len(name) > MAX_NAME_LENGTH or not _IDENTIFIER.fullmatch(name):
            raise _error(f"groupby expects property names, got {name[:MAX_NAME_LENGTH]!r}", at)
        if name.lower() in seen:
            raise _error(f"Property {name!r} appears twice in groupby", at)
        seen.add(name.lower())
        properties.append(GroupProperty(name, at))
    aggregates: tuple[Aggregate, ...] = ()
    if len(parts) > 1:
        step_name, step_inner, step_position, step_inner_position = _call(rest, rest_position)
        if step_name.lower() != "aggregate":
            raise _error(f"groupby takes only aggregate(...) after its properties, not {step_name!r}", step_position)
        aggregates = _aggregates(step_inner, step_inner_position)
    return GroupByStep(tuple(properties), aggregates, name_position)


def _aggregates(inner: str, position: int) -> tuple[Aggregate, ...]:
    items = _split(inner, position, ",", MAX_AGGREGATES)
    if len(items) > MAX_AGGREGATES:
        raise _error(f"aggregate() asks for more than {MAX_AGGREGATES} aggregates", items[-1][1])
    aggregates: list[Aggregate] = []
    for raw, raw_position in items:
        at = raw_position + (len(raw) - len(raw.lstrip()))
        match = _AGGREGATE_ITEM.fullmatch(raw)
        if match is None:
            shown = raw.strip()[:80] or "nothing"
            raise _error(f"aggregate() expects 'Property with method as Alias' or '$count as Alias', got {shown!r}", at)
        subject, method, alias = match.group("subject"), match.group("method"), match.group("alias")
        if len(subject) > MAX_NAME_LENGTH or len(alias) > MAX_NAME_LENGTH:
            raise _error(f"A name in aggregate() is longer than {MAX_NAME_LENGTH} characters", at)
        if subject.lower() == "$count":
            if method is not None:
                raise _error("$count takes no 'with': write '$count as Alias'", at)
            aggregates.append(Aggregate(None, "count", alias, at))
            continue
        if method is None:
            raise _error(f"Aggregating {subject!r} needs a method: '{subject} with sum as {alias}'", at)
        lowered = method.lower()
        if lowered not in METHODS:
            raise _error(f"Unknown aggregation method {method!r} (supported: {', '.join(METHODS)})", at)
        aggregates.append(Aggregate(subject, lowered, alias, at))
    return tuple(aggregates)
