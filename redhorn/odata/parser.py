"""OData v4 system query options from a query string, into `QueryOptions`.

`$filter` is parsed by recursive descent into the nodes of `redhorn.odata.ast`, with OData's
precedence: `or` < `and` < `not` < comparison (`eq` ... `in`) < `add` `sub` < `mul` `div` `mod` <
unary minus < a value. Literals are OData's: strings, numbers, `true`/`false`/`null`, and
`2026-01-01` (Edm.Date), `13:45` or `13:45:00` (Edm.TimeOfDay), `2026-01-01T10:00:00Z`
(Edm.DateTimeOffset); an impossible date or time is refused here, with its position.

Names of options are case-insensitive (`$orderBy` and `$orderby`);
options that do not start with `$` are custom options and are left to the caller, as OData says.
Every error is an `ODataError` naming the option and, for `$filter`, the 0-based position.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import assert_never

import msgspec

from redhorn.errors import ODataError
from redhorn.odata.ast import (
    Arithmetic,
    ArithmeticOperator,
    BoolOp,
    Call,
    Compare,
    CompareOperator,
    Expression,
    In,
    Literal,
    Negate,
    Not,
    Property,
    count_nodes,
)

# Every `$filter` function redhorn supports, with how many arguments it takes (least, most). The
# single list: the binder types each of them and `$metadata` declares these names as
# Capabilities.FilterFunctions, so a function is supported exactly when it is here.
FUNCTIONS: dict[str, tuple[int, int]] = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "length": (1, 1),
    "trim": (1, 1),
    "substring": (2, 3),
    "indexof": (2, 2),
    "concat": (2, 2),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "hour": (1, 1),
    "minute": (1, 1),
    "second": (1, 1),
    "round": (1, 1),
    "floor": (1, 1),
    "ceiling": (1, 1),
    "now": (0, 0),
}
COMPARE_OPERATORS: frozenset[str] = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
# OData's arithmetic operators, in their two precedence levels (`mul` binds tighter than `add`).
ADDITIVE_OPERATORS: frozenset[str] = frozenset({"add", "sub"})
MULTIPLICATIVE_OPERATORS: frozenset[str] = frozenset({"mul", "div", "mod"})
ARITHMETIC_OPERATORS: frozenset[str] = ADDITIVE_OPERATORS | MULTIPLICATIVE_OPERATORS
MAX_INTEGER = 2**63 - 1
# The digits of the largest integer: a longer count is refused before Python converts it.
MAX_INTEGER_DIGITS = len(str(MAX_INTEGER))
# Number literals of magnitude past 1E38, or below 1E-38, are refused: 38 digits is the precision of
# SQL Server's decimal.
MAX_DECIMAL_EXPONENT = 38
MAX_SKIP = 2**31 - 1
# A longer `$skiptoken` is refused before its signature is checked.
MAX_SKIPTOKEN_LENGTH = 4096
MAX_DEPTH = 40
# Function calls nest far less in real filters (`tolower(trim(Name))`) and cost a database's parser
# more: 30 nested trim() overflowed SQLite's parser stack. Below what either dialect accepts.
MAX_CALL_DEPTH = 8
# Values nest (calls, arithmetic, unary minus) at most this deep: `a add b add c ...` nests one level
# per operator in the SQL written for it, and SQLite's parser stack overflowed at 100 nested
# parentheses. A long sum of 16 terms is far more than Power BI folds.
MAX_VALUE_DEPTH = 16
# Fractional seconds beyond microseconds are dropped: Python's `time` holds no finer.
MICROSECOND_DIGITS = 6
# $select and $orderby: no table has more columns than SQL Server's 1,024, nor longer names than 128.
MAX_LIST_ITEMS = 1024
MAX_NAME_LENGTH = 128


class OrderItem(msgspec.Struct, frozen=True):
    name: str
    descending: bool = False
    position: int = 0


class QueryLimits(msgspec.Struct, frozen=True):
    max_top: int = 100_000_000
    max_filter_length: int = 4000
    max_filter_nodes: int = 100


class QueryOptions(msgspec.Struct, frozen=True):
    """The parsed system query options of one request; `None` or empty where not given."""

    filter: Expression | None = None
    filter_text: str = ""
    select: tuple[str, ...] | None = None
    order_by: tuple[OrderItem, ...] = ()
    order_by_text: str = ""
    top: int | None = None
    skip: int = 0
    count: bool = False
    skiptoken: str | None = None
    # `$expand` as given: parsed by `redhorn.odata.expand` where the depth limit and the tables are known.
    expand_text: str | None = None
    # `$apply` as given: parsed by `redhorn.odata.apply`, which builds on this module.
    apply_text: str | None = None
    # `$format`: "json" (a page), or "ndjson" / "csv" (the whole result, streamed); None when not given.
    format: str | None = None
    # `$deltatoken`: where a delta link's changes start, verified by the query layer.
    deltatoken: str | None = None


DEFAULT_LIMITS = QueryLimits()
KNOWN_OPTIONS = frozenset(
    {
        "$filter",
        "$select",
        "$orderby",
        "$top",
        "$skip",
        "$count",
        "$skiptoken",
        "$deltatoken",
        "$format",
        "$expand",
        "$apply",
    }
)
# `$format` values and what they name; the media types are accepted as well as the short names.
FORMATS = {
    "json": "json",
    "application/json": "json",
    "ndjson": "ndjson",
    "application/x-ndjson": "ndjson",
    "csv": "csv",
    "text/csv": "csv",
}
UNSUPPORTED_OPTIONS = frozenset({"$search", "$compute", "$levels", "$index", "$schemaversion"})


def parse_query_options(pairs: Iterable[tuple[str, str]], limits: QueryLimits = DEFAULT_LIMITS) -> QueryOptions:
    """Parse the `$`-options among `pairs` (decoded query-string pairs, in order).

    Raises:
        ODataError: an unknown, repeated or malformed system query option.
    """
    seen: dict[str, str] = {}
    for raw_name, value in pairs:
        if not raw_name.startswith("$"):
            continue
        name = raw_name.lower()
        if name in UNSUPPORTED_OPTIONS:
            raise ODataError(f"The query option {raw_name!r} is not supported", target=raw_name)
        if name not in KNOWN_OPTIONS:
            raise ODataError(f"Unknown query option {raw_name!r}", target=raw_name)
        if name in seen:
            raise ODataError(f"The query option {raw_name!r} is given more than once", target=raw_name)
        seen[name] = value

    format_name: str | None = None
    if "$format" in seen:
        format_name = FORMATS.get(seen["$format"].strip().lower())
        if format_name is None:
            raise ODataError(
                f"Unsupported $format {seen['$format']!r}; 'json', 'ndjson' or 'csv' are served", target="$format"
            )
    filter_text = seen.get("$filter", "")
    order_by_text = seen.get("$orderby", "")
    return QueryOptions(
        filter=parse_filter(filter_text, limits) if "$filter" in seen else None,
        filter_text=filter_text,
        select=parse_select(seen["$select"]) if "$select" in seen else None,
        order_by=parse_order_by(order_by_text) if "$orderby" in seen else (),
        order_by_text=order_by_text,
        top=_parse_count_option("$top", seen["$top"], limits.max_top) if "$top" in seen else None,
        skip=_parse_count_option("$skip", seen["$skip"], MAX_SKIP) if "$skip" in seen else 0,
        count=_parse_bool("$count", seen["$count"]) if "$count" in seen else False,
        skiptoken=_parse_skiptoken(seen["$skiptoken"]) if "$skiptoken" in seen else None,
        expand_text=seen.get("$expand"),
        apply_text=seen.get("$apply"),
        format=format_name,
        deltatoken=_parse_token("$deltatoken", seen["$deltatoken"]) if "$deltatoken" in seen else None,
    )


def _parse_count_option(option: str, value: str, maximum: int) -> int:
    text = value.strip()
    if not re.fullmatch(r"\d+", text):
        raise ODataError(f"{option} must be a non-negative integer, not {value!r}", target=option)
    number = int(text[: MAX_INTEGER_DIGITS + 1])
    if len(text) > MAX_INTEGER_DIGITS or number > maximum:
        raise ODataError(f"{option} must be at most {maximum}, not {value!r}", target=option)
    return number


def _parse_bool(option: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ODataError(f"{option} must be 'true' or 'false', not {value!r}", target=option)
    return lowered == "true"


def _parse_skiptoken(value: str) -> str:
    return _parse_token("$skiptoken", value)


def _parse_token(option: str, value: str) -> str:
    if not value or len(value) > MAX_SKIPTOKEN_LENGTH:
        raise ODataError(f"{option} is empty or too long", target=option)
    return value


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_select(text: str) -> tuple[str, ...]:
    """`$select=A,B` -> ("A", "B"); `*` alone selects everything and is returned as ()."""
    if text.strip() == "*":
        return ()
    parts = text.split(",", MAX_LIST_ITEMS)
    if len(parts) > MAX_LIST_ITEMS:
        raise ODataError(f"$select names more than {MAX_LIST_ITEMS} properties", target="$select")
    names: dict[str, str] = {}  # lowered -> as written, first spelling kept, in order
    for part in parts:
        name = part.strip()
        if len(name) > MAX_NAME_LENGTH or not _IDENTIFIER.fullmatch(name):
            raise ODataError(
                f"$select expects a comma-separated list of property names, got {part[:MAX_NAME_LENGTH]!r}",
                target="$select",
            )
        names.setdefault(name.lower(), name)
    return tuple(names.values())


def parse_order_by(text: str) -> tuple[OrderItem, ...]:
    """`$orderby=A desc,B` -> OrderItem("A", True), OrderItem("B", False)."""
    parts = text.split(",", MAX_LIST_ITEMS)
    if len(parts) > MAX_LIST_ITEMS:
        raise ODataError(f"$orderBy names more than {MAX_LIST_ITEMS} properties", target="$orderBy")
    items: list[OrderItem] = []
    seen: set[str] = set()
    offset = 0
    for part in parts:
        words = part.split()
        position = offset + (len(part) - len(part.lstrip()))
        offset += len(part) + 1
        if not words or len(words) > 2 or len(words[0]) > MAX_NAME_LENGTH or not _IDENTIFIER.fullmatch(words[0]):
            shown = part.strip()[:MAX_NAME_LENGTH]
            raise ODataError(
                f"$orderBy expects 'Property [asc|desc]' items separated by commas, got {shown!r}",
                target="$orderBy",
                position=position,
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError(f"Unknown sort direction {words[1]!r} in $orderBy", target="$orderBy", position=position)
        if words[0].lower() in seen:
            raise ODataError(f"Property {words[0]!r} appears twice in $orderBy", target="$orderBy", position=position)
        seen.add(words[0].lower())
        items.append(OrderItem(words[0], direction == "desc", position))
    return tuple(items)


# --- $filter ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)(?![\w:.])
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:.-])
  | (?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?![\w:.])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![A-Za-z_])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),-])
    """,
    re.VERBOSE,
)


class _Token(msgspec.Struct, frozen=True):
    kind: str
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] == "'":
                raise ODataError("Unterminated string literal in $filter", target="$filter", position=position)
            raise ODataError(
                f"Unexpected character {text[position]!r} at position {position} in $filter",
                target="$filter",
                position=position,
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def parse_filter(text: str, limits: QueryLimits = DEFAULT_LIMITS) -> Expression:
    """Parse a `$filter` expression into its syntax tree.

    Raises:
        ODataError: a syntax error, naming the position; or a filter over the size limits.
    """
    if not text.strip():
        raise ODataError("$filter is empty", target="$filter")
    if len(text) > limits.max_filter_length:
        raise ODataError(f"$filter is longer than {limits.max_filter_length} characters", target="$filter")
    parser = _FilterParser(_tokenize(text))
    tree = parser.parse()
    nodes = count_nodes(tree)
    if nodes > limits.max_filter_nodes:
        raise ODataError(f"$filter has {nodes} nodes; at most {limits.max_filter_nodes} are allowed", target="$filter")
    _check_value_depth(tree, 0)
    return tree


def _check_value_depth(node: Expression, depth: int) -> None:
    """Refuse values nested deeper than `MAX_VALUE_DEPTH` (see there), naming the innermost's position."""
    match node:
        case Compare() | BoolOp():
            _check_value_depth(node.left, 0)
            _check_value_depth(node.right, 0)
        case Not():
            _check_value_depth(node.operand, 0)
        case In():
            _check_value_depth(node.operand, 0)
        case Arithmetic() | Negate() | Call():
            if depth >= MAX_VALUE_DEPTH:
                raise ODataError(
                    f"$filter nests values more than {MAX_VALUE_DEPTH} deep at position {node.position}",
                    target="$filter",
                    position=node.position,
                )
            children = (node.left, node.right) if isinstance(node, Arithmetic) else _children(node)
            for child in children:
                _check_value_depth(child, depth + 1)
        case Property() | Literal():
            pass
        case _:
            assert_never(node)


def _children(node: Negate | Call) -> tuple[Expression, ...]:
    return (node.operand,) if isinstance(node, Negate) else node.args


class _FilterParser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.call_depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, token: _Token) -> ODataError:
        return ODataError(
            f"{message} at position {token.position} in $filter", target="$filter", position=token.position
        )

    def is_word(self, token: _Token, *words: str) -> bool:
        return token.kind == "name" and token.text.lower() in words

    def expect_punct(self, char: str) -> _Token:
        token = self.advance()
        if token.kind != "punct" or token.text != char:
            found = repr(token.text) if token.kind != "end" else "the end"
            raise self.error(f"Expected {char!r} but found {found}", token)
        return token

    def parse(self) -> Expression:
        tree = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"Unexpected {token.text!r}", token)
        return tree

    def nested(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"$filter is nested more than {MAX_DEPTH} levels deep", token)

    def parse_or(self) -> Expression:
        left = self.parse_and()
        while self.is_word(self.peek(), "or"):
            token = self.advance()
            left = BoolOp("or", left, self.parse_and(), token.position)
        return left

    def parse_and(self) -> Expression:
        left = self.parse_not()
        while self.is_word(self.peek(), "and"):
            token = self.advance()
            left = BoolOp("and", left, self.parse_not(), token.position)
        return left

    def parse_not(self) -> Expression:
        token = self.peek()
        if self.is_word(token, "not"):
            self.advance()
            self.nested(token)
            operand = self.parse_not()
            self.depth -= 1
            return Not(operand, token.position)
        return self.parse_comparison()

    def parse_comparison(self) -> Expression:
        left = self.parse_additive()
        token = self.peek()
        if token.kind == "name" and token.text.lower() in COMPARE_OPERATORS:
            self.advance()
            operator: CompareOperator = token.text.lower()  # type: ignore[assignment]
            return Compare(operator, left, self.parse_additive(), token.position)
        if self.is_word(token, "in"):
            self.advance()
            self.expect_punct("(")
            values = [self.parse_literal()]
            while self.peek().text == "," and self.peek().kind == "punct":
                self.advance()
                values.append(self.parse_literal())
            self.expect_punct(")")
            return In(left, tuple(values), token.position)
        return left

    def parse_additive(self) -> Expression:
        return self.parse_arithmetic(ADDITIVE_OPERATORS, self.parse_multiplicative)

    def parse_multiplicative(self) -> Expression:
        return self.parse_arithmetic(MULTIPLICATIVE_OPERATORS, self.parse_unary)

    def parse_arithmetic(self, operators: frozenset[str], operand: Callable[[], Expression]) -> Expression:
        """A left-associative chain of `operators` between operands: `a sub b sub c` is `(a sub b) sub c`."""
        left = operand()
        while self.peek().kind == "name" and self.peek().text.lower() in operators:
            token = self.advance()
            operator: ArithmeticOperator = token.text.lower()  # type: ignore[assignment]
            left = Arithmetic(operator, left, operand(), token.position)
        return left

    def parse_unary(self) -> Expression:
        token = self.peek()
        if token.kind == "punct" and token.text == "-":
            self.advance()
            self.nested(token)
            operand = self.parse_unary()
            self.depth -= 1
            return Negate(operand, token.position)
        return self.parse_primary()

    def parse_literal(self) -> Literal:
        token = self.peek()
        node = self.parse_primary()
        if not isinstance(node, Literal):
            raise self.error("Expected a literal value", token)
        return node

    def parse_primary(self) -> Expression:
        token = self.advance()
        if token.kind == "punct" and token.text == "(":
            self.nested(token)
            inner = self.parse_or()
            self.depth -= 1
            self.expect_punct(")")
            return inner
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"), token.position)
        if token.kind == "number":
            return Literal(_number(token, self), token.position)
        if token.kind == "date":
            return Literal(_date(token, self), token.position)
        if token.kind == "time":
            return Literal(_time(token.text, token, self), token.position)
        if token.kind == "datetime":
            return Literal(_datetime(token, self), token.position)
        if token.kind == "name":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true", token.position)
            if lowered == "null":
                return Literal(None, token.position)
            following = self.peek()
            if following.kind == "punct" and following.text == "(":
                return self.parse_call(token)
            if lowered in COMPARE_OPERATORS or lowered in ARITHMETIC_OPERATORS or lowered in ("and", "or", "not", "in"):
                raise self.error(f"Expected a value but found the operator {token.text!r}", token)
            return Property(token.text, token.position)
        if token.kind == "end":
            raise self.error("Unexpected end of expression", token)
        raise self.error(f"Unexpected {token.text!r}", token)

    def parse_call(self, name: _Token) -> Call:
        function = name.text.lower()
        if function not in FUNCTIONS:
            raise self.error(f"Unknown function {name.text!r}", name)
        self.expect_punct("(")
        self.nested(name)
        self.call_depth += 1
        if self.call_depth > MAX_CALL_DEPTH:
            raise self.error(f"$filter nests function calls more than {MAX_CALL_DEPTH} deep", name)
        args: list[Expression] = []
        if not (self.peek().kind == "punct" and self.peek().text == ")"):
            args.append(self.parse_or())
            while self.peek().kind == "punct" and self.peek().text == ",":
                self.advance()
                args.append(self.parse_or())
        self.depth -= 1
        self.call_depth -= 1
        self.expect_punct(")")
        least, most = FUNCTIONS[function]
        if not least <= len(args) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            raise self.error(f"{function}() takes {wanted} argument(s), got {len(args)}", name)
        return Call(function, tuple(args), name.position)


def _number(token: _Token, parser: _FilterParser) -> int | Decimal:
    text = token.text
    if re.fullmatch(r"-?\d+", text):
        value = int(text)
        if abs(value) > MAX_INTEGER:
            raise parser.error(f"Integer literal {text} is out of range", token)
        return value
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the token pattern admits only valid numbers
        raise parser.error(f"Invalid number {text!r}", token) from None
    if not number.is_finite() or abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise parser.error(f"Number literal {text} is out of range", token)
    return number


_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?")
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt]([0-9:.]+)(?:([Zz])|([+-])(\d{2}):(\d{2}))?")
HOURS_PER_DAY = 24
MINUTES_PER_HOUR = 60
SECONDS_PER_MINUTE = 60


def _date(token: _Token, parser: _FilterParser) -> dt.date:
    """An Edm.Date literal, `yyyy-mm-dd`, that exists in the calendar (not 2026-02-30)."""
    try:
        return dt.date.fromisoformat(token.text[:10])
    except ValueError:
        raise parser.error(f"Invalid date {token.text!r}", token) from None


def _time(text: str, token: _Token, parser: _FilterParser) -> dt.time:
    """An Edm.TimeOfDay literal, `hh:mm[:ss[.fff]]`, within a day."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise parser.error(f"Invalid time {text!r}", token)
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours >= HOURS_PER_DAY or minutes >= MINUTES_PER_HOUR or seconds >= SECONDS_PER_MINUTE:
        raise parser.error(f"Invalid time {text!r}", token)
    microseconds = int((match[4] or "").ljust(MICROSECOND_DIGITS, "0")[:MICROSECOND_DIGITS])
    return dt.time(hours, minutes, seconds, microseconds)


def _datetime(token: _Token, parser: _FilterParser) -> dt.datetime:
    """An Edm.DateTimeOffset literal: a date, `T`, a time and a zone (`Z` or `+hh:mm`), which OData requires."""
    match = _DATETIME.fullmatch(token.text)
    if match is None:  # pragma: no cover - the token pattern admits only this shape
        raise parser.error(f"Invalid date-time {token.text!r}", token)
    if match[3] is None and match[4] is None:
        raise parser.error(f"The date-time {token.text!r} needs a time zone ('Z' or '+hh:mm')", token)
    day = _date(token, parser)
    time = _time(match[2], token, parser)
    offset = dt.timedelta(0)
    if match[4] is not None:
        hours, minutes = int(match[5]), int(match[6])
        if hours >= HOURS_PER_DAY or minutes >= MINUTES_PER_HOUR:
            raise parser.error(f"Invalid time zone in {token.text!r}", token)
        offset = dt.timedelta(hours=hours, minutes=minutes) * (-1 if match[4] == "-" else 1)
    return dt.datetime.combine(day, time, dt.timezone(offset))
