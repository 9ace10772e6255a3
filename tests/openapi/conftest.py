"""The demo's OpenAPI documents, built and validated once for the session.

The document is made from the catalog alone, the same whichever engine reads the rows, and
validating one (some 9 MB) takes most of a minute: each is validated here once, not once per
engine and test.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from redhorn.settings import parse_settings
from tests.conftest import running_client, settings_document
from tests.openapi.test_document import fetch_document


@pytest.fixture(scope="session")
def validated_documents(demo_folder: Path) -> dict[str, dict[str, Any]]:
    """The company 9999 document (as its users see it) and the public one, each checked valid OpenAPI 3.1."""

    async def fetch() -> dict[str, dict[str, Any]]:
        settings = parse_settings(json.dumps(settings_document(demo_folder, "sqlite")))
        async with running_client(settings, demo_folder) as client:
            return {"company": await fetch_document(client, "?company=9999"), "public": await fetch_document(client)}

    documents = asyncio.run(fetch())
    for document in documents.values():
        validate(document)
    return documents
