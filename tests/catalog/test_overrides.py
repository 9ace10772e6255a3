"""Site overrides: a user's SQL names merged over the shipped model, and clear errors for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redhorn.catalog.crawler import CatalogColumn, build_database
from redhorn.catalog.dictionary import load_dictionary, overrides_file
from redhorn.errors import OverridesError, SettingsError


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return path


def rows(table: str, *columns: str) -> list[CatalogColumn]:
    return [
        CatalogColumn(table, False, c, "int", None, None, None, False, 1 if i == 0 else 0)
        for i, c in enumerate(columns)
    ]


def test_the_file_lives_in_metadata_beside_the_settings_file(tmp_path: Path) -> None:
    assert (
        overrides_file(tmp_path / "config" / "appsettings.json") == tmp_path / "config" / "metadata" / "overrides.json"
    )


def test_no_file_means_no_overrides(tmp_path: Path) -> None:
    dictionary = load_dictionary(tmp_path / "metadata" / "overrides.json")
    order = dictionary.entry_by_sql("company", "Ord")
    assert order is not None and order.by_name["name"].sql == "Nm"


def test_an_override_renames_a_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "overrides.json",
        '// the site\'s own SQL name for Order.Name\n{"company": {"Order": {"columns": {"Name": {"sql": "OrdNm"}}}},}',
    )
    dictionary = load_dictionary(path)
    order = dictionary.entry_by_sql("company", "Ord")
    assert order is not None
    name = order.by_name["name"]
    assert (name.sql, name.sql_confidence) == ("OrdNm", "V")
    crawled = build_database("F1", "company", rows("Ord", "OrdNo", "OrdNm", "Nm"), dictionary).table("orders")
    assert crawled is not None
    assert [(c.sql_name, c.name) for c in crawled.columns] == [("OrdNo", "OrderNo"), ("OrdNm", "Name"), ("Nm", "Nm")]
    # the curated view follows the override too
    view = dictionary.table("company", "Ord")
    assert view is not None and view.column("OrdNm") is not None and view.column("Nm") is None


def test_an_override_renames_a_table_and_takes_its_sql_names_from_others(tmp_path: Path) -> None:
    path = write(
        tmp_path / "overrides.json",
        {
            "company": {
                "Order": {"sql": "Ordr"},
                "Warehouse": {"sql": "Stc", "columns": {"Name": {"sql": "Nm"}, "WarehouseNo": {"sql": "StcNo"}}},
                "Associate": {"columns": {"ShortName": {"sql": None}}},
            }
        },
    )
    dictionary = load_dictionary(path)
    assert dictionary.entry_by_sql("company", "Ord") is None
    order = dictionary.entry_by_sql("company", "Ordr")
    assert order is not None and order.table.name == "Order" and order.table.sql_confidence == "V"
    warehouse = dictionary.entry_by_sql("company", "Stc")
    assert warehouse is not None and warehouse.table.name == "Warehouse"
    associate = dictionary.entry_by_name("company", "Associate")
    assert associate is not None and associate.by_name["shortname"].sql is None
    database = build_database("F1", "company", rows("Ordr", "OrdNo") + rows("Stc", "StcNo", "Nm"), dictionary)
    assert database.table("orders").sql_name == "Ordr"  # type: ignore[union-attr]
    stock = database.table("warehouses")
    assert stock is not None and [c.name for c in stock.columns] == ["WarehouseNo", "Name"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"company": {"Order": {"sql": "Ord",}', "not valid JSON"),
        ({"company": {"Order": {"sqlName": "Ord"}}}, "unknown key 'sqlName'; an entry takes sql and columns"),
        ({"companies": {}}, "unknown database kind 'companies'; use company, vbsys, catalog (key $.companies,"),
        ({"company": {"Order": {"sql": 1}}}, "a SQL name is a string of 1 to 128 characters, or null; got 1"),
        ({"company": {"Order": {"columns": {"Name": "Nm"}}}}, "expected an object, got str"),
        ({"company": {"Order": {"columns": {"Name": {}}}}}, "needs its sql (key $.company.Order.columns.Name,"),
        ([], "expected an object, got list (key $, line 1)"),
        ({"company": {"Ordr": {"sql": "Ord"}}}, "company table 'Ordr' is not in the dictionary"),
        ({"company": {"Order": {"columns": {"CustNo": {"sql": "CustNo"}}}}}, "Order has no column 'CustNo'"),
    ],
)
def test_a_malformed_file_is_a_settings_error_naming_the_file_and_line(
    tmp_path: Path, content: object, expected: str
) -> None:
    path = write(tmp_path / "metadata" / "overrides.json", content)
    with pytest.raises(SettingsError) as caught:
        load_dictionary(path)
    assert isinstance(caught.value, OverridesError)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "line " in message, message


def test_the_line_points_at_the_mistake(tmp_path: Path) -> None:
    path = write(tmp_path / "overrides.json", {"company": {"Order": {"sql": "Ord"}, "Ordr": {"sql": "X"}}})
    with pytest.raises(OverridesError, match=r"line 6\)"):
        load_dictionary(path)


def test_serve_stops_at_startup_on_a_malformed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from redhorn.cli import main

    settings = write(
        tmp_path / "config" / "appsettings.json",
        {"VismaConnection": {"VismaDbConnectionString": f"Engine=sqlite;Data Source={tmp_path / 'data'}"}},
    )
    overrides = write(tmp_path / "config" / "metadata" / "overrides.json", '{"company": {"Order": {"sql": 42}}}')
    assert main(["--settings", str(settings), "serve", "--no-tls", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"redhorn: {overrides}: a SQL name is a string of 1 to 128 characters"), err
    assert "line 1" in err


def test_the_documented_example_applies_to_the_shipped_model(tmp_path: Path) -> None:
    from redhorn.catalog import overrides

    doc = overrides.__doc__ or ""
    example = doc[doc.index("    {\n") : doc.index("\n    }\n") + 6]
    dictionary = load_dictionary(write(tmp_path / "overrides.json", example))
    transaction = dictionary.entry_by_name("company", "CustomerTransaction")
    assert transaction is not None
    assert transaction.by_name["amountdomestic"].sql == "Am"
    assert transaction.by_name["free1"].sql is None
