"""What SQL Server writes for the row JSON redhorn asks of it, and what pyodbc reads of the same values.

No SQL Server runs here, so the T-SQL of `MssqlDialect.json_row` is evaluated by this reference:
the expression is parsed with sqlglot (as T-SQL) and each node is computed as SQL Server documents
it. Only what the dialect writes is covered; anything else fails loudly rather than guess.

SQL Server's side (learn.microsoft.com, "Format query results as JSON with FOR JSON",
"How FOR JSON converts SQL Server data types to JSON data types", "How FOR JSON escapes special
characters and control characters", "CAST and CONVERT", "DATEPART"):

- FOR JSON PATH writes one member per select-list item, named by its alias, in select order; a dot
  in an alias nests objects; INCLUDE_NULL_VALUES writes a NULL as `null` (else the member is left
  out); WITHOUT_ARRAY_WRAPPER drops the `[` `]` around the single object.
- char, nchar, varchar, nvarchar: a JSON string. Escapes: `"` -> `\\"`, `\\` -> `\\\\`, `/` -> `\\/`,
  backspace, form feed, line feed, carriage return and tab as `\\b \\f \\n \\r \\t`, every other
  control character (U+0000 to U+001F) as `\\u00xx` (lower-case hex, as in the documentation's
  example); every other character as it is.
- int, bigint, smallint, tinyint: a JSON number, its decimal digits. bit: `true` or `false`.
- decimal and numeric: a JSON number with every digit of the type's scale (12.500000 for
  decimal(28,6)), a `0` before the point below 1 and a `-` for negatives.
- money, dates, times, uniqueidentifier, the large types: FOR JSON's text for them is not relied
  upon (money's is not documented; dates and times come as ISO 8601 with as many fraction digits as
  the type's scale, not Python's microseconds): the dialect converts them first, and this reference
  refuses them unconverted.
- CONVERT(char(n), value, style): style 23 is yyyy-mm-dd, 108 hh:mi:ss, 126 yyyy-mm-ddThh:mi:ss
  then the fraction; char(n) cuts a longer text to n characters and pads a shorter one with blanks.
  DATEPART(microsecond, ...) is the fraction of the second in whole microseconds.

pyodbc's side (what redhorn's encoder gets from the driver with the values path): integers as
int, bit as bool, decimal/numeric/money as `Decimal` of the driver's text (which carries every digit
of the scale: decimal(28,6) 12.5 is `Decimal('12.500000')`, money `Decimal('12.5000')`), text as
str exactly as stored (trailing blanks of char(n) kept), uniqueidentifier as its upper-case text,
dates and times as `date`, `datetime` and `time` with microseconds (the driver's nanoseconds cut to
microseconds), NULL as None.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

# Types FOR JSON writes as a number, and those it writes as a string, by the reference above.
INTEGER_TYPES = frozenset({"int", "bigint", "smallint", "tinyint"})
DECIMAL_TYPES = frozenset({"decimal", "numeric"})
TEXT_TYPES = frozenset({"char", "nchar", "varchar", "nvarchar", "sysname"})
# FOR JSON's short escapes; other control characters are \u00xx.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Value:
    """An SQL Server value: its type name (`decimal`, `nvarchar`, `datetime2`, ...), the value, and a
    decimal's scale; `value` None is NULL."""

    type: str
    value: Any
    scale: int = 0


def escape_text(text: str) -> str:
    """A string as FOR JSON writes it, quotes included."""
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def for_json_value(value: Value) -> str:
    """One value as FOR JSON writes it, by the reference in the module's docstring."""
    if value.value is None:
        return "null"
    if value.type in INTEGER_TYPES:
        return str(int(value.value))
    if value.type == "bit":
        return "true" if value.value else "false"
    if value.type in DECIMAL_TYPES:
        return f"{Decimal(value.value):.{value.scale}f}"
    if value.type in TEXT_TYPES:
        return escape_text(value.value)
    if value.type in ("binary", "varbinary"):
        return '"' + base64.b64encode(value.value).decode() + '"'
    raise AssertionError(f"FOR JSON's text for {value.type} is not relied upon: the dialect must convert it first")


def pyodbc_value(value: Value) -> Any:
    """What pyodbc hands redhorn for the value, by the reference in the module's docstring."""
    if value.value is None:
        return None
    if value.type in DECIMAL_TYPES:
        return Decimal(value.value).quantize(Decimal(1).scaleb(-value.scale))
    if value.type == "money" or value.type == "smallmoney":
        return Decimal(value.value).quantize(Decimal("0.0001"))
    if value.type == "bit":
        return bool(value.value)
    if value.type == "uniqueidentifier":
        return str(value.value).upper()
    if value.type == "smalldatetime":
        return value.value.replace(second=0, microsecond=0)
    return value.value


def evaluate_json_row(sql: str, params: list[Any], row: dict[str, Value]) -> str:
    """The text SQL Server returns for the JSON expression `sql` (the dialect's `json_row`) on `row`,
    keyed by SQL column name."""
    tree = sqlglot.parse_one(f"SELECT {sql}", read="tsql")
    assert isinstance(tree, exp.Select) and len(tree.expressions) == 1
    placeholders = [node for node in tree.walk(bfs=False) if isinstance(node, exp.Placeholder)]
    assert len(placeholders) == len(params), "one parameter for every ?"
    bound = {id(node): value for node, value in zip(placeholders, params, strict=True)}
    result = _Evaluator(row, bound).value(tree.expressions[0])
    assert result.type == "nvarchar" and isinstance(result.value, str)
    return result.value


class _Evaluator:
    def __init__(self, row: dict[str, Value], params: dict[int, Any]) -> None:
        self.row = row
        self.params = params

    def value(self, node: exp.Expression) -> Value:
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.Subquery):
            return self.for_json(node.this)
        if isinstance(node, exp.Column):
            return self.row[node.name]
        if isinstance(node, exp.Literal):
            return Value("varchar", node.this) if node.is_string else Value("int", int(node.this))
        if isinstance(node, exp.National):
            return Value("nvarchar", node.this)
        if isinstance(node, exp.Placeholder):
            return Value("nvarchar", self.params[id(node)])
        if isinstance(node, exp.Collate):
            return self.value(node.this)
        if isinstance(node, exp.Replace):
            text, old, new = (self.value(part) for part in (node.this, node.expression, node.args["replacement"]))
            if None in (text.value, old.value, new.value):
                return Value("nvarchar", None)
            return Value("nvarchar", text.value.replace(old.value, new.value))
        if isinstance(node, exp.Cast | exp.Convert):
            return self.convert(node)
        if isinstance(node, exp.Extract):
            assert node.this.name.lower() == "microsecond", node.sql("tsql")
            moment = self.value(node.expression)
            return Value("int", None if moment.value is None else moment.value.microsecond)
        if isinstance(node, exp.Add):
            left, right = self.value(node.this), self.value(node.expression)
            if left.value is None or right.value is None:
                return Value(left.type, None)
            return Value(left.type, left.value + right.value)
        if isinstance(node, exp.Right):
            text, length = self.value(node.this), self.value(node.expression)
            return Value(text.type, None if text.value is None else text.value[-length.value :])
        if isinstance(node, exp.Case):
            for branch in node.args["ifs"]:
                if self.condition(branch.this):
                    return self.value(branch.args["true"])
            return self.value(node.args["default"])
        raise AssertionError(f"not in the reference: {node.sql('tsql')}")

    def condition(self, node: exp.Expression) -> bool:
        assert isinstance(node, exp.EQ), node.sql("tsql")
        left, right = self.value(node.this), self.value(node.expression)
        return left.value is not None and right.value is not None and left.value == right.value

    def convert(self, node: exp.Cast | exp.Convert) -> Value:
        if isinstance(node, exp.Convert):
            target, source, style = node.this, self.value(node.expression), node.args.get("style")
        else:
            target, source, style = node.args["to"], self.value(node.this), None
        assert isinstance(target, exp.DataType)
        name = target.this.name.lower()
        sizes = [param.this.name for param in target.expressions]
        if name in ("decimal", "numeric"):
            precision, scale = int(sizes[0]), int(sizes[1])
            assert source.type in ("money", "smallmoney", "decimal", "numeric", "int")
            value = None if source.value is None else Decimal(source.value).quantize(Decimal(1).scaleb(-scale))
            assert value is None or len(value.as_tuple().digits) <= precision
            return Value("decimal", value, scale)
        assert name in ("char", "varchar", "nchar", "nvarchar", "text"), name
        if source.value is None:
            return Value("nvarchar", None)
        text = self.text(source, None if style is None else int(style.name))
        if sizes and sizes[0].lower() != "max":
            length = int(sizes[0])
            text = text[:length].ljust(length) if name in ("char", "nchar") else text[:length]
        return Value("nvarchar", text)

    @staticmethod
    def text(source: Value, style: int | None) -> str:
        value = source.value
        if isinstance(value, dt.datetime):
            assert style == 126, "dates and times are converted by an ISO style"
            fraction = f".{value.microsecond:06d}" if value.microsecond else ""
            if source.type == "datetime":
                fraction = f".{value.microsecond // 1000:03d}" if value.microsecond else ""
            if source.type == "datetime2":
                fraction = f".{value.microsecond:06d}0"
            return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}" + fraction
        if isinstance(value, dt.date):
            assert style == 23
            return f"{value.year:04d}-{value:%m-%d}"
        if isinstance(value, dt.time):
            assert style == 108
            return value.strftime("%H:%M:%S")
        if source.type == "uniqueidentifier":
            return str(value).upper()
        return str(value)

    def for_json(self, select: exp.Expression) -> Value:
        assert isinstance(select, exp.Select) and select.args.get("from_") is None, "over the outer row only"
        clause = select.args["for_"]
        assert clause.args["kind"] == "JSON" or str(clause.args["kind"]).upper() == "JSON"
        options = [option.this.name.upper() for option in clause.expressions]
        assert options == ["PATH", "WITHOUT_ARRAY_WRAPPER", "INCLUDE_NULL_VALUES"], options
        members = []
        for item in select.expressions:
            assert isinstance(item, exp.Alias), "every member is named"
            name = item.alias
            assert "." not in name, "FOR JSON PATH would nest an object here"
            assert 0 < len(name) <= 128, "a T-SQL identifier"
            members.append(f"{escape_text(name)}:{for_json_value(self.value(item.this))}")
        return Value("nvarchar", "{" + ",".join(members) + "}")
