"""Finding 21: a settings file copied from the original product did not start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import settings_document, start_server
from tests.test_error_shape import assert_error_shape

pytestmark = pytest.mark.e2e


def original_product_file(demo_folder: Path) -> dict[str, object]:
    """The shape of the original RedHorn API's appsettings.json: ASP.NET's sections, its own licence."""
    document = settings_document(demo_folder, "sqlite")
    document["Logging"] = {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}}
    document["AllowedHosts"] = "*"
    document["ConnectionStrings"] = {"Audit": "Server=sql01;User Id=sa;Password=never-logged-secret"}
    document["ApiLicence"] = {"LicenceFilePath": "C:\\\\RedHorn\\\\licence.lic", "LicenceServiceBaseUrl": ""}
    return document


def test_the_original_products_settings_file_starts_with_one_line_for_each_thing_not_honoured(
    tmp_path: Path, demo_folder: Path
):
    with start_server(tmp_path, original_product_file(demo_folder)) as server:
        with server.client() as client:
            response = client.get("/api/9999/orders?$top=1")
        log = server.log()
    assert_error_shape(response, 503, "LicenceInvalid")
    assert "IssuerPublicKey" in response.json()["error"]["message"]
    assert "Traceback" not in log and "never-logged-secret" not in log
    for section in ("Logging", "AllowedHosts", "ConnectionStrings"):
        lines = [line for line in log.splitlines() if f"{section} is an ASP.NET section" in line]
        assert len(lines) == 1, section
    licence_lines = [line for line in log.splitlines() if "licence" in line.lower() and "GET /api" not in line]
    assert len(licence_lines) == 1 and "IssuerPublicKey" in licence_lines[0], licence_lines
