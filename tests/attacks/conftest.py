"""The hardening campaign's regression tests, one per finding, named for what each proves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from redhorn.settings import parse_settings
from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, deep_merge, running_client
from tests.writers.conftest import write_document


@pytest.fixture(scope="module")
def writable_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo databases of the module's own, to write to."""
    folder = tmp_path_factory.mktemp("attack-writes")
    build_demo(folder, scale=TEST_SCALE)
    return folder


@pytest.fixture(scope="module")
async def writing_client(writable_folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app with the embedded writer, as the demo user."""
    import json

    settings = parse_settings(json.dumps(deep_merge(write_document(writable_folder), {})))
    async with running_client(settings, writable_folder) as client:
        yield client
