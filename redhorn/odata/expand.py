"""`$expand`: its text parsed into `ExpandItem`s, and the navigation properties a table has.

Navigation properties are data, not code: they come from the relations the data dictionary
declares (`Table.relations`), and only from those whose column pairs are known and whose both
tables are in the database. Each such relation gives two navigations:

- **to-one**, on the referencing table, named as the relation (`OrderLine.Order`,
  `Order.Customer`): the target row whose paired columns hold this row's values; the first in the
  target's key order when the pairs do not cover the target's key (`CustomerNo` is not
  `Associate`'s key), and null when there is none, or when every linking value is null, 0 or ''
  (Visma's "none");
- **to-many**, on the target table, the reverse: every referencing row, named by the referencing
  table's plural (`Order.OrderLines`, `Associate.Orders`). When a table refers to the same target
  through several relations (an order's customer, supplier, employee ...), the first relation in
  the dictionary's order gets the plain plural and each other one `<Plural>As<Relation>`
  (`Associate.OrdersAsSupplier`). A reverse is offered whether or not the pairs cover the
  target's key: it reads the referencing rows by the parent's values, which is right either way.

Names never shadow properties: a navigation whose name is a property of its table (or an earlier
navigation's, case-insensitively) takes the suffix `Nav` (`Order.OrgUnit1Nav`, as `OrgUnit1` is a
column); one that still clashes is left out. Forward navigations claim their names before
reverse ones, each kind in the dictionary's relation order, so the names are stable per crawl.

The parser accepts OData's `Nav`, `Nav($select=..;$filter=..;$orderby=..;$top=..;$expand=..)`
and comma lists of them; `*`, `$levels`, `$skip`, `$count` and `$search` inside are refused.
Depth counts the nesting: `$expand=OrderLines` is depth 1.

Pure: no SQL, no HTTP.
"""

from __future__ import annotations

import re

import msgspec

from redhorn.errors import ODataError
from redhorn.metadata import Column, Database, Table
from redhorn.odata.ast import Expression
from redhorn.odata.parser import (
    DEFAULT_LIMITS,
    MAX_NAME_LENGTH,
    OrderItem,
    QueryLimits,
    parse_filter,
    parse_order_by,
    parse_select,
)

# Items in one `$expand` list: no table has more relations than this in Visma's dictionary.
MAX_EXPAND_ITEMS = 64
NESTED_OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$expand"})
CLASH_SUFFIX = "Nav"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExpandItem(msgspec.Struct, frozen=True):
    """One navigation of `$expand`, with its nested options; `None` or empty where not given."""

    name: str
    select: tuple[str, ...] | None = None
    filter: Expression | None = None
    order_by: tuple[OrderItem, ...] = ()
    top: int | None = None
    expand: tuple[ExpandItem, ...] = ()


class Navigation(msgspec.Struct, frozen=True):
    """A navigation property of `source`: rows of `target` whose `target_columns` equal `source_columns`."""

    name: str
    source: str  # the table's English name the navigation belongs to
    target: str  # the English name of the table it leads to
    source_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    many: bool
    relation: str  # the dictionary's relation this navigation comes from


# ------------------------------------------------------------------------------------ navigations

_CACHE: dict[int, tuple[Database, dict[str, tuple[Navigation, ...]]]] = {}
_CACHE_SIZE = 64


def navigations(database: Database, table: Table) -> tuple[Navigation, ...]:
    """The navigation properties of `table` in `database` (see the module docstring for the rules)."""
    return _database_navigations(database).get(table.name, ())


def navigation(database: Database, table: Table, name: str) -> Navigation | None:
    """The navigation property of `table` named `name`, in any letter case."""
    lowered = name.lower()
    for found in navigations(database, table):
        if found.name.lower() == lowered:
            return found
    return None


def _database_navigations(database: Database) -> dict[str, tuple[Navigation, ...]]:
    """Every table's navigations, built once per crawled database (the metadata never changes in place)."""
    cached = _CACHE.get(id(database))
    if cached is not None and cached[0] is database:
        return cached[1]
    built = _build(database)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[id(database)] = (database, built)
    return built


def _pairs_of(table: Table, target: Table, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[Column, Column], ...]:
    """The relation's column pairs as columns of both tables; empty when any is missing."""
    found: list[tuple[Column, Column]] = []
    for own, other in pairs:
        left, right = table.column(own), target.column(other)
        if left is None or right is None or "binary" in (left.kind, right.kind):
            return ()
        found.append((left, right))
    return tuple(found)


def _build(database: Database) -> dict[str, tuple[Navigation, ...]]:
    by_name = {table.name: table for table in database.tables}
    forward: list[Navigation] = []
    reverse: list[Navigation] = []
    plain_taken: set[tuple[str, str]] = set()  # (referencing table, target) whose plain plural is given
    for table in database.tables:
        for relation in table.relations:
            target = by_name.get(relation.target) if relation.target else None
            if target is None or not relation.columns:
                continue
            pairs = _pairs_of(table, target, relation.columns)
            if not pairs:
                continue
            own = tuple(left.name for left, _ in pairs)
            other = tuple(right.name for _, right in pairs)
            forward.append(Navigation(relation.name, table.name, target.name, own, other, False, relation.name))
            plural = _plural(table)
            if (table.name, target.name) in plain_taken:
                plural = f"{plural}As{relation.name}"
            plain_taken.add((table.name, target.name))
            reverse.append(Navigation(plural, target.name, table.name, other, own, True, relation.name))
    taken: dict[str, set[str]] = {
        table.name: {column.name.lower() for column in table.columns} for table in database.tables
    }
    result: dict[str, list[Navigation]] = {}
    for candidate in (*forward, *reverse):
        names = taken[candidate.source]
        name = candidate.name
        if name.lower() in names:
            name += CLASH_SUFFIX
        if name.lower() in names or not _NAME.fullmatch(name):
            continue
        names.add(name.lower())
        result.setdefault(candidate.source, []).append(msgspec.structs.replace(candidate, name=name))
    return {name: tuple(found) for name, found in result.items()}


def _plural(table: Table) -> str:
    """The table's entity set name (`Orders`, `OrderLines`): its resource in the English name's letter case."""
    if table.resource.lower().startswith(table.name.lower()):
        return table.name + table.resource[len(table.name) :]
    return table.resource


# ------------------------------------------------------------------------------------------ parser


def parse_expand(text: str, *, max_depth: int, limits: QueryLimits = DEFAULT_LIMITS) -> tuple[ExpandItem, ...]:
    """`$expand` text -> its items, nested at most `max_depth` deep.

    Raises:
        ODataError: malformed text, an unsupported nested option, or nesting past `max_depth`;
            the target is `$expand` and the message names the navigation and the option.
    """
    parser = _ExpandParser(text, max_depth, limits)
    items = parser.items(1, "")
    if parser.index != len(text):
        raise parser.error(f"Unexpected {text[parser.index]!r}")
    return items


class _ExpandParser:
    def __init__(self, text: str, max_depth: int, limits: QueryLimits) -> None:
        self.text = text
        self.index = 0
        self.max_depth = max_depth
        self.limits = limits

    def error(self, message: str) -> ODataError:
        return ODataError(f"{message} at position {self.index} in $expand", target="$expand", position=self.index)

    def skip_spaces(self) -> None:
        while self.index < len(self.text) and self.text[self.index] == " ":
            self.index += 1

    def items(self, depth: int, path: str) -> tuple[ExpandItem, ...]:
        if depth > self.max_depth:
            raise ODataError(
                f"$expand nests deeper than {self.max_depth} level(s) at {path!r}",
                target="$expand",
                position=self.index,
            )
        found: list[ExpandItem] = []
        seen: set[str] = set()
        while True:
            self.skip_spaces()
            item = self.item(depth, path)
            if item.name.lower() in seen:
                raise self.error(f"The navigation {item.name!r} is expanded twice")
            seen.add(item.name.lower())
            found.append(item)
            if len(found) > MAX_EXPAND_ITEMS:
                raise self.error(f"$expand names more than {MAX_EXPAND_ITEMS} navigations")
            self.skip_spaces()
            if self.index < len(self.text) and self.text[self.index] == ",":
                self.index += 1
                continue
            return tuple(found)

    def item(self, depth: int, path: str) -> ExpandItem:
        match = _NAME.match(self.text, self.index)
        if match is None:
            shown = self.text[self.index : self.index + 20] or "the end"
            raise self.error(f"Expected a navigation property name, found {shown!r}")
        name = match.group()
        if len(name) > MAX_NAME_LENGTH:
            raise self.error("A navigation property name is too long")
        self.index = match.end()
        self.skip_spaces()
        if self.index < len(self.text) and self.text[self.index] == "/":
            raise self.error(f"Paths in $expand ({name}/...) are not supported; nest $expand inside {name}(...)")
        if self.index >= len(self.text) or self.text[self.index] != "(":
            return ExpandItem(name)
        self.index += 1
        options = self.options(name)
        where = f"{path}/{name}" if path else name
        return self.build(name, options, depth, where)

    def options(self, name: str) -> dict[str, tuple[str, int]]:
        """The `;`-separated `$option=value` pairs up to the closing parenthesis, values raw."""
        options: dict[str, tuple[str, int]] = {}
        while True:
            self.skip_spaces()
            if self.index < len(self.text) and self.text[self.index] == ")" and not options:
                self.index += 1
                return options
            start = self.index
            equals = self.text.find("=", start)
            if equals < 0:
                raise self.error(f"Expected '$option=value' inside {name}(...)")
            option = self.text[start:equals].strip().lower()
            if option not in NESTED_OPTIONS:
                raise self.error(
                    f"The option {self.text[start:equals].strip()[:40]!r} is not supported inside {name}(...)"
                )
            if option in options:
                raise self.error(f"{option} is given twice inside {name}(...)")
            self.index = equals + 1
            value_start = self.index
            options[option] = (self.value(name), value_start)
            if self.index >= len(self.text):
                raise self.error(f"Missing ')' closing {name}(...)")
            closing = self.text[self.index]
            self.index += 1
            if closing == ")":
                return options

    def value(self, name: str) -> str:
        """A nested option's value: up to `;` or the `)` that closes the item, minding quotes and parentheses."""
        start, depth, quoted = self.index, 0, False
        while self.index < len(self.text):
            char = self.text[self.index]
            if quoted:
                quoted = char != "'"
            elif char == "'":
                quoted = True
            elif char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    return self.text[start : self.index]
                depth -= 1
            elif char == ";" and depth == 0:
                return self.text[start : self.index]
            self.index += 1
        raise self.error(f"Missing ')' closing {name}(...)")

    def build(self, name: str, options: dict[str, tuple[str, int]], depth: int, path: str) -> ExpandItem:
        def nested(option: str, error: ODataError) -> ODataError:
            return ODataError(f"In $expand of {path!r}, {option}: {error.message}", target="$expand")

        try:
            select = parse_select(options["$select"][0]) if "$select" in options else None
        except ODataError as exc:
            raise nested("$select", exc) from None
        try:
            where = parse_filter(options["$filter"][0], self.limits) if "$filter" in options else None
        except ODataError as exc:
            raise nested("$filter", exc) from None
        try:
            order_by = parse_order_by(options["$orderby"][0]) if "$orderby" in options else ()
        except ODataError as exc:
            raise nested("$orderby", exc) from None
        top: int | None = None
        if "$top" in options:
            text = options["$top"][0].strip()
            if not re.fullmatch(r"\d{1,9}", text):
                raise ODataError(
                    f"In $expand of {path!r}, $top must be a non-negative integer, not {text[:20]!r}", target="$expand"
                )
            top = int(text)
        children: tuple[ExpandItem, ...] = ()
        if "$expand" in options:
            text, start = options["$expand"]
            inner = _ExpandParser(text, self.max_depth, self.limits)
            try:
                children = inner.items(depth + 1, path)
                if inner.index != len(text):
                    raise inner.error(f"Unexpected {text[inner.index]!r}")
            except ODataError as exc:
                raise ODataError(exc.message, target="$expand", position=start + (exc.position or 0)) from None
        return ExpandItem(name, select, where, order_by, top, children)
