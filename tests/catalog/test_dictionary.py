"""The runtime dictionary reads the whole model (format 2) and still shows the curated part as format 1 did."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import Dictionary, load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.metadata import Metadata

ROOT = Path(__file__).parents[2]
CURATED: dict[str, Any] = json.loads((ROOT / "metadata" / "curated.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary()


def test_the_runtime_ships_one_dictionary_file() -> None:
    assert sorted(p.name for p in (ROOT / "metadata").glob("*.json")) == ["curated.json", "visma-model.json"]


def test_it_loads_fast() -> None:
    best = min(_timed() for _ in range(3))
    assert best < 0.25, f"loading the dictionary took {best * 1000:.0f} ms"


def _timed() -> float:
    started = time.perf_counter()
    load_dictionary()
    return time.perf_counter() - started


def test_the_whole_model_is_indexed(dictionary: Dictionary) -> None:
    company = dictionary.entries("company")
    assert len(company) == 323  # 320 model tables and the three curated views
    assert dictionary.entry_by_name("company", "order") is dictionary.entry_by_sql("company", "ORD")
    warehouse = dictionary.entry_by_name("company", "Warehouse")
    assert warehouse is not None and warehouse.resource == "warehouses"
    numbers = [c.no or 0 for c in warehouse.numbered]
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))
    assert dictionary.domain_values("TransactionType")[0] == ("Sales", 1)
    assert dictionary.domain_values("CustomerNo") == ()


def test_the_curated_tables_read_as_format_1_did(dictionary: Dictionary) -> None:
    """What format-1 readers see: the curated tables and columns, under format 1's names."""
    for kind, tables in CURATED["databases"].items():
        # in the model's order (by table number), not the curated file's
        assert sorted(t.sql for t in dictionary.tables(kind)) == sorted(t["sql"] for t in tables)
        for entry in tables:
            table = dictionary.table(kind, entry["sql"].upper())
            assert table is not None
            assert (table.sql, table.name, table.resource, table.key, table.kind) == (
                entry["sql"],
                entry["name"],
                entry["resource"],
                tuple(entry["key"]),
                entry.get("kind", "table"),
            )
            if entry.get("tableNo") is not None:
                assert table.table_no == entry["tableNo"]
            # in the model's order (by column number), not the curated file's
            expected = sorted((c["sql"], c["name"] or "", c["type"], c.get("domain") or "") for c in entry["columns"])
            assert sorted((c.sql, c.name or "", c.type, c.domain or "") for c in table.columns) == expected
            for column in entry["columns"]:
                if column.get("no") is not None:
                    assert table.column(column["sql"]).no == column["no"]  # type: ignore[union-attr]
    associate = dictionary.table("company", "Actor")
    assert associate is not None and associate.table_no == 152
    customer_no = associate.column("custno")
    assert customer_no is not None and (customer_no.name, customer_no.no) == ("CustomerNo", 4045)


@pytest.fixture(scope="module")
async def metadata(demo_folder: Path, dictionary: Dictionary) -> Metadata:
    engine = SqliteEngine(demo_folder)
    try:
        return await crawl(engine, dictionary)
    finally:
        await engine.close()


async def test_todays_tables_keep_their_names(metadata: Metadata) -> None:
    """Every curated table in the demo keeps its resource, and every curated column its property name
    (its SQL name where the curated dictionary has no identifier: the README's corrections)."""
    databases = {"company": metadata.databases["F9999"], "vbsys": metadata.databases["vbsys"]}
    for kind, database in databases.items():
        for entry in CURATED["databases"][kind]:
            table = database.table_by_sql_name(entry["sql"])
            assert table is not None, entry["sql"]
            assert (table.resource, table.name) == (entry["resource"], entry["name"])
            for column in entry["columns"]:
                crawled = table.column_by_sql_name(column["sql"])
                assert crawled is not None, (entry["sql"], column["sql"])
                assert crawled.name == (column["name"] or column["sql"]), (entry["sql"], column["sql"])


async def test_sample_facts_through_the_crawled_demo(metadata: Metadata) -> None:
    company = metadata.databases["F9999"]
    associates, orders, lines = company.table("associates"), company.table("orders"), company.table("orderlines")
    assert associates is not None and orders is not None and lines is not None
    assert associates.number == 152
    assert associates.column("CustomerNo").number == 4045  # type: ignore[union-attr]
    assert orders.column("OrderNo").number == 2868  # type: ignore[union-attr]
    assert lines.column("ProductNo").number == 2959  # type: ignore[union-attr]
    relations = {r.name: r for r in orders.relations}
    assert relations["Customer"].target == "Associate"
    assert relations["Customer"].columns == (("CustomerNo", "CustomerNo"),)
    assert orders.change_stamps is not None and orders.change_stamps.changed_date == "ChangedDate"
    order_type = orders.column("OrderType")
    assert order_type is not None and order_type.value_domain == "OrderType" and order_type.values
