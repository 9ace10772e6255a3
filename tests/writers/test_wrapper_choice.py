"""`VismaConnection.VbsWriter` picks the writer; left out, `VbsEndpointAddress` decides as it always has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redhorn.errors import SettingsError
from redhorn.settings import parse_settings
from redhorn.writers.embedded import EmbeddedExecutor
from redhorn.writers.executor import create_writer
from redhorn.writers.vbs import VbsTransport
from redhorn.writers.wrapper import WrapperWriter
from tests.conftest import settings_document

ADDRESS = "http://127.0.0.1:9/GenericService"


@pytest.mark.parametrize(
    ("writer", "address", "chosen"),
    [
        pytest.param("", "", EmbeddedExecutor, id="nothing-set"),
        pytest.param("", ADDRESS, VbsTransport, id="address-only"),
        pytest.param("embedded", ADDRESS, EmbeddedExecutor, id="embedded-despite-an-address"),
        pytest.param("contract", ADDRESS, VbsTransport, id="contract"),
        pytest.param("wrapper", ADDRESS, WrapperWriter, id="wrapper"),
    ],
)
async def test_the_writer_is_the_one_the_settings_name(
    tmp_path: Path, standin_assemblies: Path, writer: str, address: str, chosen: type
):
    connection = {"VbsWriter": writer, "VbsEndpointAddress": address, "VbsAssemblyPath": str(standin_assemblies)}
    settings = parse_settings(json.dumps(settings_document(tmp_path, VismaConnection=connection)))
    made = create_writer(settings, tmp_path, lambda name: pytest.fail(f"no database is read ({name})"))
    try:
        assert type(made) is chosen
    finally:
        await made.close()


def test_a_writer_redhorn_does_not_have_is_refused_with_its_key(tmp_path: Path):
    document = settings_document(tmp_path, VismaConnection={"VbsWriter": "bridge"})
    with pytest.raises(SettingsError, match=r"VismaConnection\.VbsWriter"):
        parse_settings(json.dumps(document))
