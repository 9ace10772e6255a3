"""The write suite's setting: its own demo databases, written through each writer in turn.

Every write test runs twice: with the embedded executor, and through the VBS transport against
`redhorn vbs-emulator` running as a separate process on loopback (the production shape: reads
from the database, writes through the bridge). The databases are the tests' own, built once per
writer; each test makes the rows it reads, so the tests do not depend on one another.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.settings import Settings, parse_settings
from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, deep_merge, free_port, running_client, settings_document
from tests.processes import spawn, stop

WRITERS = ["embedded", "vbs"]
VBS_USER = ("vbsint", "integration-secret")
# The demo user may take customer numbers from an interval of their own in company 9999.
USER_CUSTOMER_INTERVAL = (30_000, 30_999)


@dataclass
class WriteSetup:
    writer: str
    folder: Path
    document: dict[str, Any]
    emulator_log: Path | None = None

    def settings(self, **sections: Any) -> Settings:
        return parse_settings(json.dumps(deep_merge(self.document, sections)))

    @property
    def company_db(self) -> Path:
        return self.folder / "F9999.db"


def write_document(folder: Path, vbs_address: str = "", **sections: Any) -> dict[str, Any]:
    document = settings_document(folder, "sqlite", **sections)
    document["ApiUsers"][0]["AccessibleCompanies"][0]["NumberSerieIntervals"] = [
        {"ColumnNo": 4045, "IntervalFrom": USER_CUSTOMER_INTERVAL[0], "IntervalTo": USER_CUSTOMER_INTERVAL[1]}
    ]
    document["VismaConnection"] |= {
        "VbsEndpointAddress": vbs_address,
        "VbsIntegrationUser": VBS_USER[0],
        "VbsIntegrationUserPassword": VBS_USER[1],
    }
    writes = {"IdempotencyDatabase": str(folder / "redhorn-writes.db"), "MaxBodyBytes": 200_000}
    document["Writes"] = writes | document.get("Writes", {})
    return document


def start_emulator(folder: Path, document: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`redhorn vbs-emulator` over `folder`, as a process of its own; returns it, its address and its log."""
    port = free_port()
    settings_file = folder / "emulator-settings.json"
    settings_file.write_text(json.dumps(document))
    log = folder / f"emulator-{port}.log"
    with log.open("wb") as out:
        process = spawn(
            [sys.executable, "-m", "redhorn", "--settings", str(settings_file), "vbs-emulator", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while "Application startup complete" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"the emulator did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/GenericService/redhorn", log


@pytest.fixture(scope="session", params=WRITERS)
def write_setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WriteSetup]:
    """Fresh demo databases, and the settings that write to them through `request.param`."""
    folder = tmp_path_factory.mktemp(f"writes-{request.param}")
    build_demo(folder, scale=TEST_SCALE)
    if request.param == "embedded":
        yield WriteSetup("embedded", folder, write_document(folder))
        return
    process, address, log = start_emulator(folder, write_document(folder))
    try:
        yield WriteSetup("vbs", folder, write_document(folder, address), log)
    finally:
        stop(process)


@pytest.fixture(scope="session")
async def writer_client(write_setup: WriteSetup) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app writing through the setup's writer, as the demo user."""
    async with running_client(write_setup.settings(), write_setup.folder) as client:
        yield client
