"""A write through the wrapper writer against a real Visma Business Services, when one is at hand.

Skipped unless `REDHORN_TEST_VBS=1`: it needs a Visma installation, its wrapper assemblies and a
test company. `REDHORN_TEST_VBS_SETTINGS` names that installation's settings file (with
`"VbsWriter": "wrapper"`, `VbsAssemblyPath`, `VbsEndpointAddress` and the integration user), and
`REDHORN_TEST_VBS_COMPANY` the test company (9999 if not given); `REDHORN_TEST_VBS_API_USER` and
`REDHORN_TEST_VBS_API_PASSWORD` an API user of that file who may write to it. It creates one
associate, reads it back and deletes it again: nothing else in the company is touched.

    REDHORN_TEST_VBS=1 REDHORN_TEST_VBS_SETTINGS=C:\\redhorn\\config\\appsettings.json \\
    REDHORN_TEST_VBS_API_USER=... REDHORN_TEST_VBS_API_PASSWORD=... \\
    python -m pytest -p no:cacheprovider tests/writers/test_wrapper_live.py
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from redhorn.settings import load_settings
from tests.conftest import running_client

pytestmark = pytest.mark.skipif(
    os.environ.get("REDHORN_TEST_VBS") != "1", reason="needs a Visma Business installation (REDHORN_TEST_VBS=1)"
)


@pytest.mark.timeout(300)
async def test_an_associate_is_created_read_back_and_deleted_through_a_real_vbs():
    settings_file = Path(os.environ["REDHORN_TEST_VBS_SETTINGS"])
    settings = load_settings(settings_file, environ={})
    assert settings.visma_connection.vbs_writer == "wrapper", "the live check is of the wrapper writer"
    company = int(os.environ.get("REDHORN_TEST_VBS_COMPANY", "9999"))
    user = (os.environ["REDHORN_TEST_VBS_API_USER"], os.environ["REDHORN_TEST_VBS_API_PASSWORD"])
    name = f"redhorn live check {uuid.uuid4().hex[:12]}"
    async with running_client(settings, settings_file.parent.parent, auth=user) as client:
        created = await client.post(f"/api/{company}/associates", json={"Name": name})
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        try:
            read = await client.get(location)
            assert read.status_code == 200 and read.json()["Name"] == name
        finally:
            deleted = await client.delete(location)
        assert deleted.status_code == 204, deleted.text
        assert (await client.get(location)).status_code == 404
