"""The calls the wrapper writer makes on Visma's wrapper, pinned: what a real installation would receive.

The stand-in assemblies record every call; each write below is compared, call by call, with
`golden/wrapper_calls.txt`. Objects are shown as their type and the order in which the write first
met them (`Row#4`), so the file does not depend on what ran before in the process. After a
deliberate change, `REDHORN_UPDATE_GOLDEN=1` rewrites the file, to be read before it is committed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, running_client
from tests.processes import stop
from tests.writers.conftest import VBS_USER, WriteSetup, start_standin_service, wrapper_document

GOLDEN = Path(__file__).parent / "golden" / "wrapper_calls.txt"
_LABEL = re.compile(r"\b([A-Z][A-Za-z]+)#(\d+)\b")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, standin_assemblies: Path) -> Iterator[WriteSetup]:
    folder = tmp_path_factory.mktemp("wrapper-calls")
    build_demo(folder, scale=TEST_SCALE)
    process, address, _ = start_standin_service(folder, f"Standard\\{VBS_USER[0]}", VBS_USER[1])
    try:
        yield WriteSetup("wrapper", folder, wrapper_document(folder, address, standin_assemblies))
    finally:
        stop(process)


@pytest.fixture(scope="module")
async def client(setup: WriteSetup) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(setup.settings(), setup.folder) as client:
        yield client


def recorded_calls() -> list[str]:
    """The calls recorded since the last time, one line each, objects relabelled in order of appearance."""
    from Visma.BusinessServices.StandIn import Recorder

    calls = json.loads(str(Recorder.TakeCalls()))
    numbers: dict[str, str] = {}

    def label(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in numbers:
            numbers[found] = f"{match.group(1)}#{len(numbers) + 1}"
        return numbers[found]

    lines = []
    for call in calls:
        args = ", ".join(json.dumps(arg, ensure_ascii=False) for arg in call["args"])
        result = f" -> {call['result']}" if call["result"] else ""
        lines.append(_LABEL.sub(label, f"{call['on']}.{call['member']}({args}){result}"))
    return lines


async def test_the_calls_of_create_nested_order_update_and_delete_are_the_pinned_ones(client: httpx.AsyncClient):
    recorded_calls()  # forget what the fixtures' startup recorded
    sections: list[str] = []

    created = await client.post("/api/9999/associates?$numberSeries=CustomerNo", json={"Name": "Golden AS"})
    assert created.status_code == 201, created.text
    sections += ["# POST /api/9999/associates?$numberSeries=CustomerNo {Name}", *recorded_calls()]

    customer = created.json()["value"]["CustomerNo"]
    products = (await client.get("/api/9999/products", params={"$top": "2", "$orderby": "ProductNo"})).json()["value"]
    lines = [{"ProductNo": products[0]["ProductNo"], "Quantity": 3}, {"ProductNo": products[1]["ProductNo"]}]
    order = await client.post("/api/9999/orders", json={"CustomerNo": customer, "Name": "Gold", "OrderLines": lines})
    assert order.status_code == 201, order.text
    sections += ["# POST /api/9999/orders {CustomerNo, Name, OrderLines: [2 lines]}", *recorded_calls()]

    changed = await client.patch(order.headers["location"], json={"YourReference": "Kari", "Free1": 2.5})
    assert changed.status_code == 200, changed.text
    sections += ["# PATCH /api/9999/orders/{OrderNo} {YourReference, Free1}", *recorded_calls()]

    deleted = await client.delete(created.headers["location"])
    assert deleted.status_code == 204, deleted.text
    sections += ["# DELETE /api/9999/associates/{AssociateNo}", *recorded_calls()]

    text = "\n".join(sections) + "\n"
    if os.environ.get("REDHORN_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
