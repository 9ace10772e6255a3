"""One real `redhorn serve` over TLS for the OData clients' tests, reading the demo as built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, settings_document, start_server

# Below the test demo's 2,000 orders, so that a whole set is pulled through several nextLinks.
PAGE_SIZE = 700


@pytest.fixture(scope="session")
def odata_server(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("odata-service")
    with start_server(folder, settings_document(demo_folder, Query={"MaxPageSize": PAGE_SIZE})) as server:
        yield server
