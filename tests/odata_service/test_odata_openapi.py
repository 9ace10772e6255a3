"""`$metadata` read by a strict CSDL consumer nobody here wrote: the npm package `odata-openapi`
(OASIS's converter from CSDL to OpenAPI) turns the demo's CSDL XML and CSDL JSON, fetched from a
live server, and a 350-table x 40-column company's, into OpenAPI without one message.

Its CLI prints the target file's name, then every problem it met (`console.dir(messages)`); the
XML reader it uses throws on anything CSDL does not allow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from redhorn.metadata import Column, Database, Table
from redhorn.odata.csdl import csdl_xml
from tests.conftest import Server

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".tools" / "node_modules" / ".bin" / "odata-openapi3"


@pytest.fixture(scope="module")
def converter() -> Path:
    """The pinned `odata-openapi3` CLI and a node to run it; `make test` installs both."""
    if not CLI.is_file() or shutil.which("node") is None:
        message = f"odata-openapi is not installed at {CLI} or node is missing (make test installs both)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CLI


def convert(converter: Path, source: Path) -> dict[str, object]:
    """The OpenAPI document the converter makes of `source`, after asserting it said nothing else."""
    target = source.with_suffix(".openapi3.json")
    run = subprocess.run(
        [str(converter), "--skipBatchPath", "-t", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=source.parent,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == "", run.stderr
    assert run.stdout.strip() == str(target), f"odata-openapi reported problems:\n{run.stdout[:4000]}"
    document: dict[str, object] = json.loads(target.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("kind", ["xml", "json"])
def test_odata_openapi_converts_the_demo_metadata_without_a_message(
    converter: Path, odata_server: Server, tmp_path: Path, kind: str
):
    with odata_server.client() as client:
        response = client.get("/odata/9999/$metadata", params={"$format": kind})
    assert response.status_code == 200
    source = tmp_path / f"metadata.{kind}"
    source.write_bytes(response.content)
    paths = convert(converter, source)["paths"]
    assert isinstance(paths, dict)
    assert {"/Orders", "/Orders({OrderNo})", "/PriceAndDiscountMatrices"} <= set(paths)
    assert "/OrderLines(OrderNo={OrderNo},LineNo={LineNo})" in paths


def synthetic_company(tables: int = 350, columns: int = 40) -> Database:
    """A company of `tables` tables of `columns` columns of every kind and domain the metadata knows,
    with descriptions that need escaping in XML."""
    kinds: list[tuple[str, str, dict[str, object]]] = [
        ("integer", "int", {}),
        ("string", "varchar(80)", {"max_length": 80}),
        ("decimal", "decimal(28,6)", {"precision": 28, "scale": 6}),
        ("integer", "int", {"domain": "date"}),
        ("integer", "smallint", {"domain": "time"}),
        ("integer", "int", {"value_domain": "Kind <&\"'>", "values": (("First & <best>", 1), ("Second", 2))}),
        ("decimal", "decimal", {}),
        ("binary", "varbinary", {}),
        ("boolean", "bit", {}),
        ("float", "float", {"nullable": True}),
        ("datetime", "datetime", {"nullable": True}),
        ("integer", "bigint", {"domain": "flags"}),
    ]
    made: list[Table] = []
    for t in range(tables):
        cols = []
        for c in range(columns):
            kind, sql_type, extra = kinds[c % len(kinds)]
            cols.append(Column(f"C{c}", f"Column{c}", kind, sql_type, number=t * 100 + c, **extra))  # type: ignore[arg-type]
        made.append(Table(f"T{t}", f"Thing{t}", f"thing{t}s", tuple(cols), (cols[0], cols[1]), number=t))
    return Database("F0350", tuple(made))


def test_odata_openapi_converts_a_350_table_company_without_a_message(converter: Path, tmp_path: Path):
    source = tmp_path / "synthetic.xml"
    source.write_bytes(csdl_xml(synthetic_company()))
    paths = convert(converter, source)["paths"]
    assert isinstance(paths, dict)
    assert "/Thing349s(Column0={Column0},Column1='{Column1}')" in paths
