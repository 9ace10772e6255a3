"""The wrapper writer's failures: a server whose wrapper cannot load does not start, naming what is
missing; at write time VBS away is 503, VBS refusing is 502, and a .NET exception is 502 with its
message, never a 500, and never with the integration user's password."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from redhorn.errors import SettingsError, WrapperLoadError
from redhorn.settings import parse_settings
from redhorn.writers.executor import create_writer
from tests.conftest import deep_merge, free_port, running_client, settings_document, start_server
from tests.processes import stop
from tests.writers.conftest import VBS_USER, start_standin_service
from tests.writers.wrapper_standin.build import compile_standin

SECRET = "wrapper-secret-4711"


def wrapper_settings(data: Path, assemblies: Path, address: str, password: str = VBS_USER[1], **extra: Any) -> Any:
    connection = {
        "VbsWriter": "wrapper",
        "VbsAssemblyPath": str(assemblies),
        "VbsEndpointAddress": address,
        "VbsIntegrationUser": VBS_USER[0],
        "VbsIntegrationUserPassword": password,
    }
    return settings_document(data, "sqlite", VismaConnection=connection, **extra)


# A server that cannot load the wrapper does not start ----------------------------------------------


def startup_failure(folder: Path, document: dict[str, Any]) -> str:
    """The one line a `redhorn serve` that had to exit before serving printed."""
    with pytest.raises(RuntimeError, match="server exited early") as failed, start_server(folder, document):
        pass
    log = str(failed.value).split("\n", 1)[1].strip()
    assert "Traceback" not in log and "\n" not in log, log
    return log


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_server_whose_wrapper_folder_is_missing_does_not_start(tmp_path: Path, demo_folder: Path):
    missing = tmp_path / "no-visma-here"
    log = startup_failure(tmp_path / "server", wrapper_settings(demo_folder, missing, "http://127.0.0.1:9/"))
    assert log.startswith(f"redhorn: VismaConnection.VbsAssemblyPath {str(missing.resolve())!r} is not a folder")


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_server_whose_wrapper_lacks_an_assembly_does_not_start(tmp_path: Path, demo_folder: Path):
    assemblies = compile_standin(tmp_path / "visma", leave_out=["Visma.BusinessServices.Client"])
    log = startup_failure(tmp_path / "server", wrapper_settings(demo_folder, assemblies, "http://127.0.0.1:9/"))
    assert log.startswith(f"redhorn: VismaConnection.VbsAssemblyPath {str(assemblies.resolve())!r} has no ")
    assert "has no Visma.BusinessServices.Client.dll: Visma's wrapper assemblies are looked for there" in log


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_server_whose_wrapper_is_of_an_unknown_version_does_not_start(tmp_path: Path, demo_folder: Path):
    assemblies = compile_standin(tmp_path / "visma", defines=["OLD_WRAPPER"])
    log = startup_failure(tmp_path / "server", wrapper_settings(demo_folder, assemblies, "http://127.0.0.1:9/"))
    assert log.startswith("redhorn: VismaConnection.VbsAssemblyPath")
    assert "has no property Visma.BusinessServices.Wrapper.Operation.EscalateErrorToOperation" in log
    assert "a wrapper version redhorn does not know" in log


def test_the_wrapper_writer_needs_its_folder_and_an_address(demo_folder: Path):
    document = wrapper_settings(demo_folder, Path("visma"), "http://127.0.0.1:9/")
    document["VismaConnection"].pop("VbsAssemblyPath")
    with pytest.raises(SettingsError, match="VbsAssemblyPath"):
        parse_settings(json.dumps(document))
    document["VismaConnection"] |= {"VbsAssemblyPath": "visma", "VbsEndpointAddress": ""}
    with pytest.raises(SettingsError, match="needs VbsEndpointAddress"):
        parse_settings(json.dumps(document))


def test_a_culture_the_wrapper_does_not_have_stops_startup(demo_folder: Path, standin_assemblies: Path):
    document = wrapper_settings(demo_folder, standin_assemblies, "http://127.0.0.1:9/")
    document["VismaConnection"]["VbsCultureId"] = "Klingon__Qonos"
    with pytest.raises(WrapperLoadError, match="VismaConnection.VbsCultureId: 'Klingon__Qonos' is not a member"):
        create_writer(parse_settings(json.dumps(document)), demo_folder, lambda name: None)  # type: ignore[arg-type,return-value]


# At write time ------------------------------------------------------------------------------------------


async def write_with(document: dict[str, Any], data: Path) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with running_client(parse_settings(json.dumps(document)), data) as client:
        response = await client.post("/api/9999/associates", json={"Name": "Through the wrapper"})
    return response.status_code, response.json(), dict(response.headers)


async def test_vbs_unreachable_is_503_and_nothing_is_written(
    demo_folder: Path, standin_assemblies: Path, caplog: pytest.LogCaptureFixture
):
    address = f"http://127.0.0.1:{free_port()}/GenericService"
    status, body, headers = await write_with(wrapper_settings(demo_folder, standin_assemblies, address), demo_folder)
    assert (status, body["error"]["code"]) == (503, "WriterUnavailable")
    assert headers["retry-after"] == "5"
    assert any("unavailable through the wrapper" in record.getMessage() for record in caplog.records)


@pytest.fixture(scope="module")
def standin_vbs(demo_folder: Path) -> Iterator[str]:
    """The stand-in VBS, accepting the integration user with its own password only."""
    process, address, _ = start_standin_service(demo_folder, f"Standard\\{VBS_USER[0]}", VBS_USER[1])
    try:
        yield address
    finally:
        stop(process)


async def test_vbs_refusing_the_integration_user_is_502_without_the_password(
    demo_folder: Path, standin_assemblies: Path, standin_vbs: str, caplog: pytest.LogCaptureFixture
):
    document = wrapper_settings(demo_folder, standin_assemblies, standin_vbs, password=SECRET)
    status, body, _ = await write_with(document, demo_folder)
    assert (status, body["error"]["code"]) == (502, "VbsFailed")
    assert body["error"]["message"] == "Visma Business Services refused the integration user's credentials"
    assert SECRET not in caplog.text


class _Misbehaving(BaseHTTPRequestHandler):
    """A VBS that fails in ways the wrapper throws as .NET exceptions: a fault echoing the credentials it
    was sent, an answer that is not one, or no answer in time."""

    mode = "fault"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.mode == "slow":
            time.sleep(3)
        credentials = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        status, text = (500, f"The service failed for {credentials}") if self.mode == "fault" else (200, "<html/>")
        data = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:  # the client gave up waiting ("slow")
            return

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.mark.parametrize(
    ("mode", "status", "code", "text"),
    [
        pytest.param(
            "fault", 502, "VbsFailed", "System.ServiceModel.FaultException: The service failed for", id="fault"
        ),
        pytest.param("garbage", 502, "VbsFailed", "Visma Business Services failed: System.", id="not-an-answer"),
        pytest.param("slow", 503, "WriterUnavailable", "did not answer in time", id="too-slow"),
    ],
)
async def test_a_dotnet_exception_is_answered_with_its_message_and_never_the_password(
    demo_folder: Path, standin_assemblies: Path, caplog: pytest.LogCaptureFixture, mode, status, code, text
):
    handler = type("Handler", (_Misbehaving,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"http://127.0.0.1:{server.server_address[1]}/GenericService"
        document = wrapper_settings(demo_folder, standin_assemblies, address, password=SECRET)
        document = deep_merge(document, {"Writes": {"VbsTimeoutSeconds": 1}})
        status_got, body, _ = await write_with(document, demo_folder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert (status_got, body["error"]["code"]) == (status, code)
    assert text in body["error"]["message"]
    assert SECRET not in json.dumps(body) and SECRET not in caplog.text
    if mode == "fault":
        assert f"{VBS_USER[0]}:***" in body["error"]["message"]
