"""The format-2 model: built from the public Visma model and the curated dictionary, and shipped in the package.

The shipped file is checked on its own, so these facts hold in a checkout without the public model; where the
model's folder is present, a fresh build is checked too and must equal the shipped file byte for byte.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from redhorn.catalog.model import Column, Model, Table, decode_model, load_model
from redhorn.tools.model_import import build_model, domain_link, encode_model, main, read_curated, resource_name

ROOT = Path(__file__).parents[2]
SHARED_MODEL = ROOT.parent / "shared" / "visma-model"
METADATA = ROOT / "metadata"
CURATED = METADATA / "curated.json"
# The format-1 dictionary redhorn shipped before the whole model (metadata/visma-business.json), kept here only to
# prove that curated.json differs from it by the README's corrections alone.
TODAY = Path(__file__).with_name("dictionary-format1.json")
SHIPPED = METADATA / "visma-model.json"

needs_shared = pytest.mark.skipif(
    not SHARED_MODEL.is_dir(),
    reason=f"the public Visma model is not at {SHARED_MODEL}: only the shipped file is tested",
)

WITHOUT_STAMPS = {
    "AggregatedShipment",
    "ItemLocationBalance",
    "LocationBalance",
    "ProfitAndLossAccountAndBalanceSheetColumn",
}


@pytest.fixture(scope="module")
def shipped() -> Model:
    return load_model()


@pytest.fixture(scope="module")
def built() -> Model:
    if not SHARED_MODEL.is_dir():
        pytest.skip(f"the public Visma model is not at {SHARED_MODEL}")
    return build_model(SHARED_MODEL, CURATED.read_bytes())


@pytest.fixture(scope="module", params=["shipped", "built"])
def model(request: pytest.FixtureRequest) -> Model:
    """Each fact is checked on the shipped file and, where the public model is present, on a fresh build."""
    result: Model = request.getfixturevalue(request.param)
    return result


def table(model: Model, name: str) -> Table:
    found = model.table("company", name)
    assert found is not None, name
    return found


def column(table: Table, name: str) -> Column:
    found = table.column(name)
    assert found is not None, f"{table.name}.{name}"
    return found


def test_the_company_database_holds_the_320_model_tables_and_the_curated_views(model: Model) -> None:
    tables = model.tables("company")
    from_model = [t for t in tables if t.source != "curated"]
    assert len(from_model) == 320
    assert all(t.table_no is not None for t in from_model)
    assert sorted(t.name for t in tables if t.source == "curated") == ["CustomerView", "EmployeeView", "SupplierView"]
    assert {t.kind for t in tables if t.source == "curated"} == {"view"}


def test_sample_facts(model: Model) -> None:
    associate, order, line = table(model, "Associate"), table(model, "Order"), table(model, "OrderLine")
    assert associate.table_no == 152
    assert associate.sql == "Actor"
    assert column(associate, "CustomerNo").no == 4045
    order_no = column(order, "OrderNo")
    assert (order_no.no, order_no.sql, order_no.pk, order.key) == (2868, "OrdNo", True, ("OrderNo",))
    assert column(line, "ProductNo").no == 2959
    # 307 columns in the public model, and OrderSumInCurrency (OrdSum), which only the curated dictionary has
    assert len(order.columns) == 308
    assert [c.name for c in order.columns if c.no is None and c.sql == "OrdSum"] == ["OrderSumInCurrency"]
    widest = max(model.tables("company"), key=lambda t: len(t.columns))
    assert (widest.name, len(widest.columns)) == ("OrderLine", 413)


def test_formats_and_domains(model: Model) -> None:
    order = table(model, "Order")
    assert column(order, "OrderDate").format == "yyyymmdd"
    transaction_type = column(order, "TransactionType")
    assert (transaction_type.domain, transaction_type.domain_confidence) == ("TransactionType", "L")
    domain = model.domains["TransactionType"]
    assert domain.members["Sales"] == 1
    assert domain.members["Purchase"] == 6
    assert domain.confidence == "V"
    assert {c.domain for c in table(model, "Associate").columns if c.name in ("AddressLine1", "AddressLine2")} == {
        "AddressLine"
    }


def test_resources_identifiers_and_sql_names_are_unique(model: Model) -> None:
    for kind, tables in model.databases.items():
        for values in ([t.resource for t in tables], [t.name.lower() for t in tables]):
            assert len(values) == len(set(values)), kind
        sql_names = [t.sql.lower() for t in tables if t.sql]
        assert len(sql_names) == len(set(sql_names)), kind
        for each in tables:
            names = [c.name.lower() for c in each.columns if c.name]
            assert len(names) == len(set(names)), each.name
            sql_columns = [c.sql.lower() for c in each.columns if c.sql]
            assert len(sql_columns) == len(set(sql_columns)), each.name
            assert set(each.key) <= {c.name for c in each.columns}, each.name


def test_relations_point_at_existing_tables_and_columns(model: Model) -> None:
    tables = {t.name: t for t in model.tables("company")}
    relations = [(t, r) for t in tables.values() for r in t.relations]
    assert len(relations) == 3029
    assert sum(r.target is not None for _, r in relations) == 2208
    for source, relation in relations:
        if relation.target is None:
            assert relation.columns == ()
            continue
        target = tables[relation.target]
        for from_column, to_column in relation.columns:
            assert source.column(from_column) is not None, (source.name, relation.name)
            assert target.column(to_column) is not None, (source.name, relation.name)
        assert (relation.columns_confidence is not None) == bool(relation.columns)
    by_name = {(t.name, r.name): r for t, r in relations}
    assert by_name["OrderLine", "Product"].columns == (("ProductNo", "ProductNo"),)
    assert by_name["OrderLine", "Order"].columns == (("OrderNo", "OrderNo"),)
    # a role of Associate links the role's number, not the associate number
    assert by_name["Order", "Customer"].target == "Associate"
    assert by_name["Order", "Customer"].columns == (("CustomerNo", "CustomerNo"),)
    # a key of two columns cannot be reached through one
    assert by_name["OrderLine", "FromStockBalance"].columns == ()


def test_change_stamps(model: Model) -> None:
    tables = [t for t in model.tables("company") if t.source != "curated"]
    assert sum(t.change_stamps is not None for t in tables) == 316
    assert {t.name for t in tables if t.change_stamps is None} == WITHOUT_STAMPS
    stamps = table(model, "Order").change_stamps
    assert stamps is not None
    assert stamps.changed_time_ms is not None
    assert (stamps.changed_time_ms.name, stamps.changed_time_ms.sql) == ("ChangeTimeInMs", "ChTmms")
    sql = [ref.sql for ref in msgspec.structs.astuple(stamps) if ref is not None]
    assert sql == ["ChDt", "ChTm", "ChTmms", "ChUsr", "CreDt", "CreTm", "CreUsr"]


def test_every_curated_table_comes_out_as_it_is(model: Model) -> None:
    """Nothing that works today breaks: each curated table keeps its SQL name, identifier, resource and columns."""
    curated = json.loads(CURATED.read_text(encoding="utf-8"))
    for kind, tables in curated["databases"].items():
        for entry in tables:
            found = model.table_by_sql(kind, entry["sql"])
            assert found is not None, entry["sql"]
            assert (found.sql, found.name, found.resource, found.kind) == (
                entry["sql"],
                entry["name"],
                entry["resource"],
                entry.get("kind", "table"),
            )
            curated_columns = {c.sql for c in found.columns if c.source != "model"}
            assert curated_columns == {c["sql"] for c in entry["columns"]}, "the curated columns are marked so"
            for expected in entry["columns"]:
                got = found.column_by_sql(expected["sql"])
                assert got is not None, f"{entry['name']}.{expected['sql']}"
                assert (got.sql, got.name, got.type) == (expected["sql"], expected["name"], expected["type"])
            assert found.key == tuple(found.column_by_sql(part).name for part in entry["key"])  # type: ignore[union-attr]


def test_the_readme_corrections_hold(model: Model) -> None:
    text = table(model, "Text")
    assert "LineNo" in text.key
    assert column(text, "LineNo").sql == "LnNo"
    assert table(model, "OrgUnit1").key == ("OrgUnit1No",)
    assert table(model, "OrgUnit2").key == ("OrgUnit2No",)
    product, structure = table(model, "Product"), table(model, "Structure")
    assert product.column("ProductGroup") is None
    assert product.column("ProductType") is None
    assert structure.column("Description") is None
    for owner, sql in ((product, "ProdGr"), (product, "ProdTp"), (structure, "Descr")):
        kept = owner.column_by_sql(sql)
        assert kept is not None and kept.name is None, f"{owner.name}.{sql} keeps its SQL column, unnamed"
    assert column(table(model, "UpdatedVoucher"), "OrderNo").sql == "Task"
    template = column(table(model, "GeneralLedgerAccount"), "TemplateAccountNo")
    assert (template.sql, template.stored) == (None, False)


def test_curated_json_is_todays_dictionary_with_the_readme_corrections() -> None:
    """The corrections, written out: applied to the format-1 dictionary they give curated.json (notes aside)."""
    today: dict[str, Any] = json.loads(TODAY.read_text(encoding="utf-8"))
    curated: dict[str, Any] = json.loads(CURATED.read_text(encoding="utf-8"))
    expected = copy.deepcopy(today)
    tables = {t["name"]: t for t in expected["databases"]["company"]}

    def entry(name: str, sql: str) -> dict[str, Any]:
        found: dict[str, Any] = next(c for c in tables[name]["columns"] if c["sql"] == sql)
        return found

    text = tables["Text"]
    text["key"].append("LnNo")
    position = [c["sql"] for c in text["columns"]].index("TxtNo") + 1
    text["columns"].insert(position, {"sql": "LnNo", "name": "LineNo", "no": 2103, "type": "int", "confidence": "L"})
    entry("OrgUnit1", "RNo")["name"] = "OrgUnit1No"
    entry("OrgUnit2", "RNo")["name"] = "OrgUnit2No"
    for name, sql in (("Product", "ProdGr"), ("Product", "ProdTp"), ("Structure", "Descr")):
        entry(name, sql)["name"] = None
    # Not a correction of the README's: the catalog's SqlName holds the demo's stand-in names too, up
    # to 45 characters, so it is wider than the 40 first guessed.
    model_table = next(t for t in expected["databases"]["catalog"] if t["name"] == "ModelTable")
    next(c for c in model_table["columns"] if c["sql"] == "SqlName")["type"] = "varchar(80)"

    def without_new_notes(dictionary: dict[str, Any]) -> dict[str, Any]:
        stripped = copy.deepcopy(dictionary)
        for kind in stripped["databases"].values():
            for each in kind:
                for c in each["columns"]:
                    if c.get("name") is None or (each["name"] == "Text" and c["sql"] == "LnNo"):
                        c.pop("note", None)
        return stripped

    assert without_new_notes(curated) == without_new_notes(expected)


def test_curated_json_stays_format_1() -> None:
    curated = json.loads(CURATED.read_text(encoding="utf-8"))
    assert curated["format"] == 1
    assert len(read_curated(CURATED.read_bytes()).databases["company"]) == len(curated["databases"]["company"])


@needs_shared
def test_a_fresh_build_equals_the_shipped_file(built: Model) -> None:
    assert encode_model(built) == SHIPPED.read_bytes(), "run: python -m redhorn.tools.model_import"


def test_the_encoding_round_trips(shipped: Model) -> None:
    data = SHIPPED.read_bytes()
    assert decode_model(encode_model(shipped)) == shipped
    assert encode_model(shipped) == data
    assert len(data) < 3_000_000


def test_the_shipped_file_loads_fast() -> None:
    data = SHIPPED.read_bytes()
    best = min(_timed(lambda: decode_model(data)) for _ in range(5))
    assert best < 0.1, f"decoding took {best * 1000:.0f} ms"


def _timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def test_resource_names_follow_todays_dictionary() -> None:
    today = json.loads(TODAY.read_text(encoding="utf-8"))
    for entry in today["databases"]["company"]:
        if entry.get("kind") != "view":
            assert resource_name(entry["name"]) == entry["resource"], entry["name"]
    assert [resource_name(word) for word in ("Batch", "Address", "Index", "Basis", "Day", "VatTerms")] == [
        "batches",
        "addresses",
        "indexes",
        "bases",
        "days",
        "vatterms",
    ]


def test_domain_links_by_name() -> None:
    domains = {"TransactionType", "AddressLine", "Text", "OperandType"}
    assert domain_link("TransactionType", domains) == ("TransactionType", "L")
    assert domain_link("AddressLine3", domains) == ("AddressLine", "G")
    assert domain_link("OperandType1", domains) == ("OperandType", "G")
    assert domain_link("TextNo", domains) is None
    assert domain_link(None, domains) is None


@needs_shared
def test_the_command_line_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "visma-model.json"
    arguments = ["--model", str(SHARED_MODEL), "--curated", str(CURATED), "--out", str(out)]
    assert main(arguments) == 0
    assert out.read_bytes() == SHIPPED.read_bytes()
    assert main([*arguments, "--check"]) == 0
    out.write_bytes(b"{}")
    assert main([*arguments, "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
