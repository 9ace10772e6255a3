"""The write suite's setting: its own demo databases, written through each writer in turn.

Every write test runs three times: with the embedded executor; through the VBS transport against
`redhorn vbs-emulator` running as a separate process on loopback (the production shape: reads
from the database, writes through the bridge); and through the wrapper writer, pythonnet driving
the stand-in of Visma's wrapper assemblies (`wrapper_standin/`, compiled with Mono's `mcs`), whose
`Dispatch` reaches the stand-in VBS service, a process of its own running the embedded writer.
The databases are the tests' own, built once per writer; each test makes the rows it reads, so
the tests do not depend on one another.
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
from redhorn.writers.wrapper_runtime import load_wrapper
from tests.conftest import TEST_SCALE, deep_merge, free_port, running_client, settings_document
from tests.processes import spawn, stop
from tests.writers.wrapper_standin.build import compile_standin

WRITERS = ["embedded", "vbs", "wrapper"]
VBS_USER = ("vbsint", "integration-secret")
# The demo user may take customer numbers from an interval of their own in company 9999.
USER_CUSTOMER_INTERVAL = (30_000, 30_999)


@dataclass
class WriteSetup:
    writer: str
    folder: Path
    document: dict[str, Any]
    # The log of the process that stands for VBS (the emulator, or the wrapper's stand-in service).
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


# Visma's numbers of the demo's extension table and columns, as an installation gives them its own.
EXTENSION_NUMBERS = {
    "ACME_DelRoute": {
        "TableNo": 30_001,
        "Columns": {"RouteNo": 1, "Nm": 2, "DriverEmpNo": 3, "WeekDays": 4, "CapacityKg": 5},
    },
    "Actor": {"Columns": {"ACME_Segment": 30_101}},
}


def start_standin_service(folder: Path, user: str, password: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The stand-in VBS service over `folder`, as a process of its own; returns it, its address and its log."""
    port = free_port()
    log = folder / f"standin-vbs-{port}.log"
    args = ["--folder", str(folder), "--user", user, "--password", password, "--port", str(port)]
    args += ["--numbers", json.dumps(EXTENSION_NUMBERS)]
    with log.open("wb") as out:
        process = spawn(
            [sys.executable, "-m", "tests.writers.wrapper_standin.service", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parents[2],
        )
    deadline = time.monotonic() + 30
    while "Application startup complete" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"the stand-in VBS service did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/GenericService/redhorn", log


@pytest.fixture(scope="session")
def standin_assemblies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in wrapper assemblies, compiled once per test process, and the .NET runtime loaded with them
    (a process hosts one runtime, for its life)."""
    folder = compile_standin(tmp_path_factory.mktemp("wrapper-standin"))
    load_wrapper(folder)
    return folder


def wrapper_document(folder: Path, address: str, assemblies: Path, **sections: Any) -> dict[str, Any]:
    """The write settings, writing through the wrapper writer with the stand-in assemblies."""
    document = write_document(folder, address, **sections)
    document["VismaConnection"] |= {
        "VbsWriter": "wrapper",
        "VbsAssemblyPath": str(assemblies),
        "VbsNumbers": EXTENSION_NUMBERS,
    }
    return document


@pytest.fixture(scope="session", params=WRITERS)
def write_setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WriteSetup]:
    """Fresh demo databases, and the settings that write to them through `request.param`."""
    folder = tmp_path_factory.mktemp(f"writes-{request.param}")
    build_demo(folder, scale=TEST_SCALE)
    if request.param == "embedded":
        yield WriteSetup("embedded", folder, write_document(folder))
        return
    if request.param == "wrapper":
        assemblies = request.getfixturevalue("standin_assemblies")
        process, address, log = start_standin_service(folder, f"Standard\\{VBS_USER[0]}", VBS_USER[1])
        try:
            yield WriteSetup("wrapper", folder, wrapper_document(folder, address, assemblies), log)
        finally:
            stop(process)
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
