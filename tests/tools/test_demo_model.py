"""The demo company database is the whole Visma Business model: every table, every column, a key, some rows.

Built at the tests' scale (the session's `demo_folder`); the tables the demo's story fills keep the rows they had
before the demo became the model, which the read and write tests rely on.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from redhorn.catalog.model import Column, Model, Table, load_model
from redhorn.tools.demo.filler import FILLER_ROWS
from redhorn.tools.demo.schema import DemoTable, demo_table, stand_in_type, stored_columns

# The tables the demo's story fills, with their row counts at the tests' scale (0.01), as before the model.
POPULATED = {
    "Ac": 17,
    "AcNoSer": 4,
    "AcTr": 300,
    "ActInf": 20,
    "Actor": 50,
    "Agr": 30,
    "BgtLn": 20,
    "Cur": 6,
    "CustTr": 300,
    "Doc": 5,
    "FreeInf1": 5,
    "OpCustEnt": 30,
    "Ord": 2000,
    "OrdLn": 10000,
    "PrDcMat": 250,
    "Prod": 200,
    "ProdCat": 20,
    "ProdDesc": 50,
    "ProdTr": 200,
    **{f"R{n}": 5 + n for n in range(1, 13)},
    "ScanCd": 200,
    "StcBal": 266,
    "Struct": 15,
    "SupTr": 50,
    "Txt": 36,
    "Unit": 7,
}
# Digests of every row of the columns each of these tables had before the model, in key order: any change to the
# story's values shows here. (table, columns, key order, digest)
STORY_COLUMNS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    (
        "Ord",
        tuple(
            "OrdNo OrdDt TrTp CustNo SupNo Nm Ad1 PNo PArea DelNm DelAd1 DelPNo DelPArea DelMt DelDt CSOrdNo Cur ExRt"
            " InvoNo R1 PmtTrm OrdSum".split()
        ),
        "OrdNo",
        "8a5bf005",
    ),
    (
        "OrdLn",
        tuple("OrdNo LnNo ProdNo Descr NoInvoAb Price Am Un TrTp TrDt DelDt Cur NoInvo Srt".split()),
        "OrdNo, LnNo",
        "92e6aa60",
    ),
    (
        "Actor",
        tuple(
            "ActNo Nm Shrt CustNo SupNo EmpNo Ad1 PNo PArea Ctry Phone MailAd Cur PmtTrm R1 CreDt ChDt"
            " ACME_Segment".split()
        ),
        "ActNo",
        "321af156",
    ),
    ("Prod", tuple("ProdNo Descr StSaleUn ProdGr ProdTp PrCatNo NWgtU ChDt CreDt".split()), "ProdNo", "0e249259"),
    (
        "CustTr",
        tuple("JNo EntNo CustNo VoNo VoDt DueDt Txt InvoNo OrdNo Am CurAm Cur ExRt".split()),
        "JNo, EntNo",
        "b7f130e6",
    ),
)


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="module")
def company(demo_folder: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{demo_folder / 'F9999.db'}?mode=ro", uri=True)
    yield connection
    connection.close()


def model_tables(model: Model) -> list[Table]:
    return [t for t in model.tables("company") if t.kind == "table"]


def sql_tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return {row[0] for row in rows}


def sql_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[0] for row in connection.execute("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))]


def sql_key(connection: sqlite3.Connection, table: str) -> list[str]:
    rows = connection.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))
    return [row[0] for row in rows]


def expected_columns(table: Table) -> list[str]:
    """The SQL columns a model table has in the demo: numbered ones by number, then the curated-only ones."""
    return [c.sql or c.name or "" for c in stored_columns(table)]


def test_the_company_database_holds_every_model_table(model: Model, company: sqlite3.Connection) -> None:
    tables = model_tables(model)
    assert len(tables) == 320
    names = {t.sql or t.name for t in tables}
    present = sql_tables(company)
    assert names <= present
    # Besides the model: the Data Model Extension, redhorn's own number series and deleted rows.
    assert present - names == {"ACME_DelRoute", "RedhornNumberSeries", "RedhornTombstones", "RedhornTombstonesPruned"}
    views = {row[0] for row in company.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert views == {"CustV", "SupV", "EmpV"}


def test_unknown_sql_names_stand_in_as_english_identifiers(model: Model, company: sqlite3.Connection) -> None:
    country = model.table("company", "Country")
    assert country is not None and country.sql is None, "the test assumes Country's SQL name is unknown"
    assert "Country" in sql_tables(company)
    # Known SQL names where the model has them (CountryNo is Ctry), the identifier where it has not.
    assert sql_columns(company, "Country")[:3] == ["Ctry", "IsoCode", "Nm"]
    order = model.table("company", "Order")
    assert order is not None
    unknown = [c for c in order.columns if c.sql is None and c.stored]
    assert unknown and all(c.name in sql_columns(company, "Ord") for c in unknown)


def test_order_has_all_the_model_columns_in_column_number_order(model: Model, company: sqlite3.Connection) -> None:
    order = model.table("company", "Order")
    assert order is not None
    columns = sql_columns(company, "Ord")
    assert len(columns) == len(order.columns) >= 308
    assert columns == expected_columns(order)
    numbers = [(order.column_by_sql(name) or order.column(name)) for name in columns]
    numbered = [c.no for c in numbers if c is not None and c.no is not None]
    assert numbered == sorted(numbered) and len(numbered) == len(set(numbered))
    assert len(numbered) == len([c for c in order.columns if c.no is not None])
    assert all(c is not None and c.no is None for c in numbers[len(numbered) :]), "the unnumbered columns come last"
    assert columns[0] == "OrdNo" and "OrdSum" in columns[len(numbered) :]


def test_every_table_has_the_model_columns_in_order_and_a_key(model: Model, company: sqlite3.Connection) -> None:
    for table in model_tables(model):
        sql = table.sql or table.name
        columns = sql_columns(company, sql)
        expected = expected_columns(table) + (["ACME_Segment"] if sql == "Actor" else [])
        assert columns == expected, sql
        key = sql_key(company, sql)
        assert key, f"{sql} has no primary key"
        if table.key:
            by_name = {c.name: c.sql or c.name for c in table.columns}
            assert key == [by_name[name] for name in table.key], sql
    widest = max(model_tables(model), key=lambda t: len(t.columns))
    assert len(sql_columns(company, widest.sql or widest.name)) == 413


def test_the_story_tables_keep_their_sizes_and_rows(company: sqlite3.Connection) -> None:
    for table, count in POPULATED.items():
        assert company.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == count, table
    assert company.execute(
        "SELECT OrdNo, OrdDt, TrTp, CustNo, SupNo, Nm, Cur, InvoNo, OrdSum FROM Ord WHERE OrdNo IN (1, 1000, 2000)"
    ).fetchall() == [
        (1, 20201126, 1, 10040, 0, "Østmarin ASA", 47, "INV00000001", 114655.75),
        (1000, 20231125, 1, 10025, 0, "Stormconsult AB", 49, "INV00001000", 87378.46),
        (2000, 20261124, 6, 0, 50007, "Østtransport Holding AS", 45, "", 722009.55),
    ]
    assert company.execute(
        "SELECT OrdNo, LnNo, ProdNo, NoInvoAb, Price, Am FROM OrdLn WHERE (OrdNo, LnNo) IN (VALUES (1, 1), (1000, 2))"
    ).fetchall() == [(1, 1, "HW-000198", 35, 3125.65, 109397.75), (1000, 2, "VE-000124", 14, 1137.73, 15928.22)]
    assert company.execute(
        "SELECT ActNo, Nm, CustNo, SupNo, EmpNo, PNo, Ctry, CreDt, ACME_Segment FROM Actor WHERE ActNo IN (1, 10, 50)"
    ).fetchall() == [
        (1, "Kristian Lindqvist", 0, 0, 1, "7011", 47, 20220304, "Retail"),
        (10, "Nordconsult AS", 0, 50010, 0, "1050", 45, 20220207, "Wholesale"),
        (50, "Fjellindustri AS", 10050, 0, 0, "111 20", 46, 20231026, "Wholesale"),
    ]
    assert company.execute("SELECT ProdNo, Descr, StSaleUn, NWgtU FROM Prod ORDER BY ProdNo LIMIT 2").fetchall() == [
        ("EL-000001", "Galvanised steel cable 55x201", 3, 7.671),
        ("EL-000007", "Cast iron clamp 50x251", 2, 0.942),
    ]
    assert company.execute("SELECT JNo, EntNo, CustNo, VoNo, Am FROM CustTr WHERE EntNo IN (1, 300)").fetchall() == [
        (1, 1, 10042, 100001, 3867.09),
        (31, 300, 10043, 100300, 4763.82),
    ]


def digest(connection: sqlite3.Connection, table: str, columns: Sequence[str], order: str) -> str:
    selected = ", ".join(f'"{c}"' for c in columns)
    hashed = hashlib.sha256()
    for row in connection.execute(f'SELECT {selected} FROM "{table}" ORDER BY {order}'):
        hashed.update(repr(row).encode())
    return hashed.hexdigest()[:8]


@pytest.mark.parametrize(("table", "columns", "order", "expected"), STORY_COLUMNS, ids=[t[0] for t in STORY_COLUMNS])
def test_the_story_columns_keep_every_value(
    company: sqlite3.Connection, table: str, columns: tuple[str, ...], order: str, expected: str
) -> None:
    assert digest(company, table, columns, order) == expected


def test_the_story_tables_extra_columns_hold_their_defaults(model: Model, company: sqlite3.Connection) -> None:
    order = model.table("company", "Order")
    assert order is not None
    stamp = order.change_stamps
    assert stamp is not None and stamp.changed_by_user is not None and stamp.changed_by_user.sql == "ChUsr"
    assert company.execute('SELECT DISTINCT "ChUsr", "Inf6" FROM Ord').fetchall() == [("", "")]


def test_every_other_table_holds_a_few_rows(model: Model, company: sqlite3.Connection) -> None:
    others = [t.sql or t.name for t in model_tables(model) if (t.sql or t.name) not in POPULATED]
    assert len(others) == 320 - len(POPULATED)
    for table in others:
        assert company.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == FILLER_ROWS, table


def test_filler_rows_are_valid_and_point_at_the_story(company: sqlite3.Connection) -> None:
    dates = company.execute('SELECT "ChDt", "ChTm", "ChUsr" FROM "Language" ORDER BY 1 DESC').fetchall()
    assert dates == [(20261025, 815, "system"), (20260925, 1230, "system"), (20260826, 1545, "system")]
    customers = [row[0] for row in company.execute("SELECT CustNo FROM Actor WHERE CustNo <> 0 ORDER BY ActNo")]
    balances = [row[0] for row in company.execute('SELECT "CustNo" FROM "CustomerBalance"')]
    assert sorted(balances) == sorted(customers[:3])


def test_the_small_company_and_the_catalog_have_the_model_too(demo_folder: Path, model: Model) -> None:
    with sqlite3.connect(demo_folder / "F0001.db") as small:
        assert {t.sql or t.name for t in model_tables(model)} <= sql_tables(small)
    with sqlite3.connect(demo_folder / "Catalog.db") as catalog:
        rows = catalog.execute("SELECT TableNo, Identifier, SqlName FROM ModelTable").fetchall()
    assert len(rows) == len(model.tables("company"))
    assert (127, "Order", "Ord") in rows and (152, "Associate", "Actor") in rows


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("RequiredDeliveryDate", "int"),
        ("Date13", "int"),
        ("ChangedTime", "smallint"),
        ("ChangedByUser", "varchar"),
        ("AmountInCurrency", "decimal(28,6)"),
        ("Freight3Backup", "decimal(28,6)"),
        ("NetWeightPerUnit", "decimal(28,6)"),
        ("AlternativeProductNo", "varchar"),
        ("AddressLine4", "varchar"),
        ("PrimaryKey", "int"),
        ("TaxCode", "int"),
        ("WarehouseNo", "int"),
        ("x", "int"),
        ("TableReadAccessBlob", "varbinary"),
    ],
)
def test_stand_in_types_by_identifier(identifier: str, expected: str) -> None:
    assert stand_in_type(unknown(identifier), None) == expected


def test_stand_in_types_by_format_then_domain_then_identifier() -> None:
    assert stand_in_type(unknown("Something", value_format="yyyymmdd"), "Decimal") == "int"
    column = unknown("Unit")
    assert stand_in_type(column, "TextType") == "int"
    assert stand_in_type(column, "Decimal") == "decimal(28,6)"
    assert stand_in_type(column, "LimitedString") == "varchar"


def unknown(identifier: str, value_format: str | None = None) -> Column:
    """A column of which the model knows the identifier only."""
    return Column(name=identifier, no=None, sql=None, confidence="V", format=value_format)


def demo(model: Model, name: str) -> DemoTable:
    table = model.table("company", name)
    assert table is not None, name
    return demo_table(model, table)


def key(model: Model, name: str) -> tuple[tuple[str | None, ...], str]:
    """A demo table's key by identifiers, and whether it is the model's or a stand-in."""
    table = demo(model, name)
    return tuple(c.identifier for k in table.key if (c := table.column(k))), table.key_source


def test_stand_in_keys(model: Model) -> None:
    assert key(model, "Order") == (("OrderNo",), "model")
    assert key(model, "Text") == (("TextType", "LanguageNo", "TextNo", "LineNo"), "model")
    assert key(model, "Country") == (("CountryNo",), "stand-in")
    assert key(model, "TaxCode") == (("TaxCode",), "stand-in")
    assert key(model, "DistributionLine") == (("DistributionKeyNo", "LineNo"), "stand-in")
    assert key(model, "CompanyInformation") == (("PrimaryKey",), "stand-in")
    assert key(model, "PriceFactor") == (("HirePeriod",), "stand-in"), "a decimal never stands in for a key"
