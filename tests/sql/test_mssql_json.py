"""SQL Server writing rows as JSON itself (`Query.JsonFromDatabase`): T-SQL that parses, and the same text.

What SQL Server returns is computed by the reference in `tests/sql/tsql_json.py` (SQL Server's
documented FOR JSON, CONVERT and DATEPART, and what pyodbc reads), and must equal, byte for byte,
what redhorn's encoder writes from the values the other path reads. The statements themselves are
kept in `tests/sql/golden/tsql_json.sql`; after an intended change, rewrite it with
`REDHORN_UPDATE_GOLDEN=1 pytest tests/sql/test_mssql_json.py` and read the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlglot
from sqlglot import exp

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.encoding import encode_row
from redhorn.engines.connect import create_engine, dialect_for, odbc_pairs
from redhorn.engines.sqlite import SqliteEngine
from redhorn.metadata import Column, Metadata, Table
from redhorn.odata.parser import QueryOptions, parse_query_options
from redhorn.query.expand import plan_expand, statement_query
from redhorn.query.paging import PageToken
from redhorn.query.plan import plan_key, plan_key_prefix, plan_list
from redhorn.query.prepared import prepare_list
from redhorn.settings import parse_settings
from redhorn.sql import MssqlDialect, SqliteDialect, Statement, mssql as mssql_module
from redhorn.sql.compiler import compile_select
from redhorn.sql.mssql import MssqlJsonDialect, mssql_dialect
from tests.conftest import settings_document
from tests.sql.test_tsql_golden import render
from tests.sql.tsql_json import Value, escape_text, evaluate_json_row, for_json_value, pyodbc_value

GOLDEN = Path(__file__).parent / "golden" / "tsql_json.sql"
DIALECT = MssqlJsonDialect()

# Text that FOR JSON and msgspec must write alike, or that the dialect must make alike.
HOSTILE = [
    "Sjørør ApS",
    "a/b",
    "\\/",
    "\\\\/",
    'say "hi"',
    "line\nbreak\ttab\r\b\f",
    "".join(chr(code) for code in range(32)),
    "trailing   ",
    "",
    '"_1":',
    "}{",
    "🚀 \u2028 \x7f",
]


# (SQL Server type as the catalog names it, stored values): every kind of column a row rendered as
# JSON can hold (binary and float rows are read as values, see `test_binary_and_float_rows_stay_values`).
TYPED_VALUES: list[tuple[str, str, list[Any]]] = [
    ("int", "integer", [0, -1, 2147483647, 20261124, None]),
    ("bigint", "integer", [9223372036854775807, -9223372036854775808]),
    ("smallint", "integer", [-32768, 1345]),
    ("tinyint", "integer", [0, 255]),
    ("bit", "boolean", [True, False, None]),
    ("decimal(28,6)", "decimal", ["12.5", "0.5", "-0.5", "0", "1234567890123456789012.123456", "-7", None]),
    ("numeric(18,2)", "decimal", ["99.5", "-0.01", "0"]),
    ("decimal(10,0)", "decimal", ["12", "-3", "0"]),
    ("money(19,4)", "decimal", ["12.5", "-922337203685477.5808", "0", "0.0001", None]),
    ("smallmoney(10,4)", "decimal", ["-214748.3648", "1.1"]),
    ("nvarchar(50)", "string", [*HOSTILE, None]),
    ("varchar(20)", "string", ["OrdNo/1", "plain"]),
    ("nchar(10)", "string", ["abc       ", "          "]),
    ("char(3)", "string", ["NOK"]),
    ("ntext", "string", ["long / text", None]),
    ("text", "string", ["old\\type"]),
    ("xml", "string", ["<a>b</a>"]),
    ("sysname", "string", ["dbo"]),
    ("uniqueidentifier", "string", ["6f9619ff-8b86-d011-b42d-00c04fc964ff", None]),
    ("date", "datetime", [dt.date(2026, 11, 24), dt.date(1, 1, 1), None]),
    (
        "datetime",
        "datetime",
        [dt.datetime(2026, 11, 24, 13, 45), dt.datetime(2026, 11, 24, 13, 45, 5, 3000), dt.datetime(1753, 1, 1), None],
    ),
    (
        "datetime2",
        "datetime",
        [dt.datetime(2026, 11, 24, 13, 45, 5, 123456), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), None],
    ),
    ("smalldatetime", "datetime", [dt.datetime(2026, 11, 24, 13, 45), None]),
    ("time", "datetime", [dt.time(13, 45), dt.time(0, 0, 0, 100), dt.time(23, 59, 59, 999999), None]),
]


def _stored(sql_type: str, value: Any) -> Value:
    name = sql_type.split("(")[0]
    scale = int(sql_type.rstrip(")").split(",")[1]) if "," in sql_type else 0
    if name in ("decimal", "numeric") and value is not None:
        value = Decimal(value).quantize(Decimal(1).scaleb(-scale))
    return Value(name, Decimal(value) if value is not None and name.endswith("money") else value, scale)


def _typed_table() -> tuple[Table, list[dict[str, Value]]]:
    columns = tuple(
        Column(f"C{index}", f"P{index}", kind, sql_type, nullable=True)  # type: ignore[arg-type]
        for index, (sql_type, kind, _) in enumerate(TYPED_VALUES)
    )
    height = max(len(values) for *_, values in TYPED_VALUES)
    rows = [
        {
            f"C{index}": _stored(sql_type, values[r % len(values)])
            for index, (sql_type, _, values) in enumerate(TYPED_VALUES)
        }
        for r in range(height)
    ]
    return Table("Typed", "Typed", "typeds", columns, (columns[0],)), rows


def _python_path(columns: tuple[Column, ...], row: dict[str, Value]) -> bytes:
    """What the values path writes: pyodbc's values, encoded by redhorn's encoder."""
    return encode_row(columns, tuple(pyodbc_value(row[column.sql_name]) for column in columns))


def _server_path(dialect: MssqlDialect, columns: tuple[Column, ...], row: dict[str, Value]) -> bytes:
    """What SQL Server returns for the JSON path, as the readers get it (`json_row_bytes`)."""
    sql, params = dialect.json_row(columns)
    text = evaluate_json_row(sql, params, row)
    return bytes(dialect.json_row_bytes([(text, 1)])[0][0])


@pytest.mark.parametrize(("sql_type", "kind", "values"), TYPED_VALUES, ids=[sql_type for sql_type, *_ in TYPED_VALUES])
def test_each_type_is_written_as_the_encoder_writes_it(sql_type: str, kind: str, values: list[Any]):
    column = Column("C", "Value", kind, sql_type, nullable=True)  # type: ignore[arg-type]
    for value in values:
        row = {"C": _stored(sql_type, value)}
        python = _python_path((column,), row)
        assert _server_path(DIALECT, (column,), row) == python, (sql_type, value)


def test_every_type_in_one_row():
    table, rows = _typed_table()
    for row in rows:
        assert _server_path(DIALECT, table.columns, row) == _python_path(table.columns, row)


def test_the_reference_is_what_for_json_documents():
    """The reference's own rules, pinned, so that the tests above cannot pass by a wrong reference."""
    assert for_json_value(Value("decimal", Decimal("12.500000"), 6)) == "12.500000"
    assert for_json_value(Value("decimal", Decimal("-0.500000"), 6)) == "-0.500000"
    assert for_json_value(Value("bit", True)) == "true"
    assert for_json_value(Value("nvarchar", None)) == "null"
    assert for_json_value(Value("varbinary", b"ab\xff")) == '"YWL/"'
    assert escape_text('a/"\\\x01\n') == '"a\\/\\"\\\\\\u0001\\n"'
    with pytest.raises(AssertionError, match="not relied upon"):
        for_json_value(Value("money", Decimal("1.0000")))
    with pytest.raises(AssertionError, match="not relied upon"):
        for_json_value(Value("datetime", dt.datetime(2026, 1, 1)))


def test_without_the_conversions_the_text_would_differ(monkeypatch):
    """The reference tells the dialect's conversions apart from their absence: each one matters."""
    text = Column("C", "Value", "string", "nvarchar(10)")
    money = Column("M", "Amount", "decimal", "money(19,4)")
    row = {"C": Value("nvarchar", "a/b"), "M": Value("money", Decimal("12.5"))}
    assert _server_path(MssqlJsonDialect(), (text, money), row) == _python_path((text, money), row)
    monkeypatch.setattr(mssql_module, "UNESCAPE_SOLIDUS", "{0}")
    assert _server_path(MssqlJsonDialect(), (text,), row) == b'{"Value":"a\\/b"}' != _python_path((text,), row)
    monkeypatch.setattr(mssql_module, "JSON_VALUE_TEMPLATES", {})
    with pytest.raises(AssertionError, match="not relied upon"):
        _server_path(MssqlJsonDialect(), (money,), row)


@pytest.mark.parametrize(
    "name",
    ["Order.No", "a.b.c", ".", "x" * 129, "_1", "a/b", "Ø.ø", "_1.x", "_2"],
)
def test_property_names_for_json_cannot_alias_are_renamed_exactly(name: str):
    columns: tuple[Column, ...] = (
        Column("A", name, "string", "nvarchar(10)"),
        Column("B", "_1", "integer", "int"),
        Column("C", "_2x", "integer", "int"),
        Column("D", "Plain", "string", "nvarchar(10)"),
    )
    if len({c.name for c in columns}) < len(columns):
        columns = columns[:1] + columns[2:]
    row = {"A": Value("nvarchar", '"_1":"x"'), "B": Value("int", 1), "C": Value("int", 2), "D": Value("nvarchar", "/")}
    assert _server_path(DIALECT, columns, row) == _python_path(columns, row)
    decoded = json.loads(_server_path(DIALECT, columns, row))
    assert list(decoded) == [column.name for column in columns]


@pytest.mark.parametrize("width", [1, 60, 413, 1024, 4096], ids=lambda w: f"{w}-columns")
def test_wide_rows_are_one_object(width: int):
    """SQL Server takes 4,096 columns in a SELECT; the row is one FOR JSON value however wide."""
    kinds = [("int", "integer"), ("decimal(28,6)", "decimal"), ("nvarchar(40)", "string"), ("bit", "boolean")]
    columns = tuple(
        Column(f"c{i}", f"P{i}", kinds[i % 4][1], kinds[i % 4][0], nullable=True)  # type: ignore[arg-type]
        for i in range(width)
    )
    samples: dict[str, Any] = {"int": 7, "decimal": Decimal("1.250000"), "nvarchar": "a/b ", "bit": False}
    row = {c.sql_name: Value(c.sql_type.split("(")[0], samples[c.sql_type.split("(")[0]], 6) for c in columns}
    sql, _ = DIALECT.json_row(columns)
    assert sql.count("FOR JSON") == 1 and sql.count(" AS [") == width
    assert _server_path(DIALECT, columns, row) == _python_path(columns, row)


def test_binary_and_float_rows_stay_values():
    """FOR JSON writes binary as base64 and floats with its own digits: such rows are read as values
    and encoded by redhorn (`can_render_json`), on SQL Server as on SQLite."""
    binary = Column("Pict", "Picture", "binary", "varbinary(max)")
    number = Column("F", "Ratio", "float", "float")
    key = Column("Id", "Id", "integer", "int")
    for column in (binary, number):
        table = Table("T", "T", "ts", (key, column), (key,))
        assert not plan_list(table, QueryOptions(), page_size=10, token=None, json_rows=True).query.json_rows
        assert not plan_key(table, (1,), None, json_rows=True).json_rows
    table = Table("T", "T", "ts", (key, binary), (key,))
    assert plan_key(table, (1,), ("Id",), json_rows=True).json_rows


def test_text_rows_become_bytes_and_byte_rows_stay():
    rows: list[tuple[Any, ...]] = [('{"A":"ø"}', 1, "x"), ("{}", 2, "y")]
    assert DIALECT.json_row_bytes(rows) == [('{"A":"ø"}'.encode(), 1, "x"), (b"{}", 2, "y")]
    from_sqlite: list[tuple[Any, ...]] = [(b"{}", 1)]
    assert SqliteDialect().json_row_bytes(from_sqlite) is from_sqlite
    assert DIALECT.json_row_bytes([]) == []


def test_the_option_picks_the_dialect(tmp_path: Path):
    assert not MssqlDialect().renders_json_rows and mssql_dialect().renders_json_rows is False
    assert mssql_dialect(json_rows=True).renders_json_rows
    assert isinstance(mssql_dialect(json_rows=True), MssqlDialect)
    sql_server = odbc_pairs("Driver={ODBC Driver 18 for SQL Server};Server=x")
    assert dialect_for(sql_server, json_rows=True).renders_json_rows
    assert not dialect_for(sql_server).renders_json_rows
    assert isinstance(dialect_for(odbc_pairs("Driver=SQLite3;Database=x"), json_rows=False), SqliteDialect)
    text = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:127.0.0.1,1;UID=u;PWD=p"
    for option, expected in ((None, False), (False, False), (True, True)):
        query = {} if option is None else {"Query": {"JsonFromDatabase": option}}
        document = settings_document(tmp_path, "sqlite", **query, VismaConnection={"VismaDbConnectionString": text})
        settings = parse_settings(json.dumps(document))
        assert settings.query.json_from_database is expected
        assert create_engine(settings, tmp_path, warn=False).dialect.renders_json_rows is expected


# The golden statements ------------------------------------------------------------------------

# (label, database, resource, query string, seek values of the page before, or None)
LISTS: list[tuple[str, str, str, str, tuple[Any, ...] | None]] = [
    ("orders, first page", "F9999", "orders", "$select=OrderNo,OrderDate,CustomerNo,Name", None),
    ("order lines, every column, top and count", "F9999", "orderlines", "$top=5&$count=true", None),
    ("order lines, next page by the composite key", "F9999", "orderlines", "$select=OrderNo,LineNo", (1001, 2)),
    (
        "associates, a nullable extension column, skip",
        "F9999",
        "associates",
        "$select=Name,ACME_Segment&$skip=40",
        None,
    ),
    ("companies in vbsys", "vbsys", "companies", "$select=CompanyNo,Name", None),
]
EXPANDS = [
    ("orders", "OrderLines($select=LineNo,AmountInCurrency;$top=2)"),
    ("orders", "OrderLines($select=LineNo;$expand=Order($select=OrderNo,Name))"),
]


@pytest.fixture(scope="module")
async def metadata(demo_folder: Path) -> Metadata:
    engine = SqliteEngine(demo_folder)
    try:
        return await crawl(engine, load_dictionary())
    finally:
        await engine.close()


def _widest(metadata: Metadata) -> Table:
    from redhorn.query.plan import can_render_json

    tables = [t for t in metadata.databases["F9999"].tables if t.key and can_render_json(t.columns)]
    return max(tables, key=lambda table: (len(table.columns), table.sql_name))


def statements(metadata: Metadata) -> list[tuple[str, Statement]]:
    found: list[tuple[str, Statement]] = []
    for label, database, resource, query, seek in LISTS:
        table = metadata.databases[database].table(resource)
        assert table is not None
        options = parse_query_options(parse_qsl(query, keep_blank_values=True))
        token = PageToken(seek, 100) if seek is not None else None
        prepared = prepare_list(DIALECT, table, options, page_size=100, token=token)
        assert prepared.plan.query.json_rows, label
        found.append((f"{resource}?{query} -- {label}", prepared.statement))
    company = metadata.databases["F9999"]
    lines = company.table("orderlines")
    orders = company.table("orders")
    assert lines is not None and orders is not None
    found.append(
        (
            "orderlines/1001/2 -- one row by its key",
            compile_select(DIALECT, plan_key(lines, (1001, 2), None, json_rows=True)),
        )
    )
    found.append(
        (
            "orderlines/1001/2?$select=ProductNo,Quantity -- one row by its key, selected",
            compile_select(DIALECT, plan_key(lines, (1001, 2), ("ProductNo", "Quantity"), json_rows=True)),
        )
    )
    found.append(
        (
            "the lines of order 1001, as a write reads them back",
            compile_select(DIALECT, plan_key_prefix(lines, {"OrderNo": 1001}, limit=500, json_rows=True)),
        )
    )
    for resource, text in EXPANDS:
        table = company.table(resource)
        assert table is not None
        for node in plan_expand(company, table, text, max_depth=2, json_rows=True):
            assert node.query.json_rows
            found.append(
                (
                    f"{resource}?$expand={text} -- level 1",
                    compile_select(DIALECT, statement_query(node, [(1001,), (1002,)])),
                )
            )
            for child in node.children:
                found.append(
                    (
                        f"{resource}?$expand={text} -- level 2",
                        compile_select(DIALECT, statement_query(child, [(1001,)])),
                    )
                )
    widest = _widest(metadata)
    found.append(
        (
            f"{widest.resource}/1 -- the widest table, {len(widest.columns)} columns",
            compile_select(DIALECT, plan_key(widest, tuple(1 for _ in widest.key), None, json_rows=True)),
        )
    )
    typed, _ = _typed_table()
    found.append(
        (
            "typeds -- every SQL Server type a JSON row holds",
            compile_select(DIALECT, plan_key(typed, (1,), None, json_rows=True)),
        )
    )
    odd = Table(
        "Odd",
        "Odd",
        "odds",
        (
            Column("Id", "Id", "integer", "int"),
            Column("A.B", "A.B", "string", "nvarchar(10)"),
            Column("C]", "C]", "integer", "int"),
        ),
        (Column("Id", "Id", "integer", "int"),),
    )
    found.append(
        (
            "odds -- a dotted name renamed, a bracket quoted",
            compile_select(DIALECT, plan_key(odd, (1,), None, json_rows=True)),
        )
    )
    return found


def _json_subqueries(tree: Any) -> list[exp.Select]:
    return [node for node in tree.find_all(exp.Select) if node.args.get("for_") is not None]


def test_every_statement_parses_as_tsql_with_one_for_json_per_row(metadata: Metadata):
    found = statements(metadata)
    assert len(found) >= 14
    for label, statement in found:
        tree = sqlglot.parse_one(statement.sql, read="tsql")
        assert isinstance(tree, exp.Select), label
        assert statement.sql.count("?") == len(statement.params), label
        (subquery,) = _json_subqueries(tree)
        assert subquery.args.get("from_") is None, "correlated: over the outer row's columns"
        assert [o.this.name for o in subquery.args["for_"].expressions] == [
            "PATH",
            "WITHOUT_ARRAY_WRAPPER",
            "INCLUDE_NULL_VALUES",
        ]
        assert tree.expressions[0].find(exp.Select) is subquery, "the row's JSON is the first value read"
        assert len(subquery.expressions) <= 4096, label


def test_the_aliases_are_the_property_names(metadata: Metadata):
    lines = metadata.databases["F9999"].table("orderlines")
    assert lines is not None
    query = plan_key(lines, (1001, 2), None, json_rows=True)
    tree = sqlglot.parse_one(compile_select(DIALECT, query).sql, read="tsql")
    (subquery,) = _json_subqueries(tree)
    assert [item.alias for item in subquery.expressions] == [column.name for column in query.output]


def test_the_tsql_matches_the_golden_file(metadata: Metadata):
    text = render(statements(metadata))
    if os.environ.get("REDHORN_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "the T-SQL changed: see the module docstring to update the golden file"


def test_the_golden_file_parses_on_its_own():
    for block in GOLDEN.read_text().strip().split("\n\n"):
        sql = "\n".join(line for line in block.splitlines() if not line.startswith("--")).rstrip(";")
        sqlglot.parse_one(sql, read="tsql")


def test_the_widest_demo_row_reads_the_same_both_ways(metadata: Metadata):
    """The widest demo table's row, its values as the demo holds them, through both paths."""
    widest = _widest(metadata)
    samples: dict[str, Any] = {
        "integer": 20261124,
        "decimal": Decimal("12.5"),
        "string": "Sjørør/ApS  ",
        "boolean": True,
    }
    row: dict[str, Value] = {}
    for column in widest.columns:
        name = column.sql_type.split("(")[0]
        scale = column.scale or 6 if column.kind == "decimal" else 0
        value = samples[column.kind]
        row[column.sql_name] = Value(
            name if name != "integer" else "int",
            value.quantize(Decimal(1).scaleb(-scale)) if column.kind == "decimal" else value,
            scale,
        )
    assert _server_path(DIALECT, widest.columns, row) == _python_path(widest.columns, row)
