"""Which writer runs a write: the embedded executor, the VBS transport, or Visma's .NET wrapper.

`VismaConnection.VbsWriter` names the writer ("embedded", "contract" or "wrapper", the last one
Visma's .NET wrapper in process, see `wrapper`); left out, `VismaConnection.VbsEndpointAddress`
decides: empty (or `embedded`) writes to the company's SQLite database in process, through the
embedded engine's files; an address sends every write to the bridge on the Visma host. Against
SQL Server without a VBS address there is nothing that may write (redhorn never writes Visma's
tables with SQL of its own), and writes are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol

from redhorn.errors import WrapperLoadError, WritesNotConfigured
from redhorn.metadata import Database
from redhorn.settings import Settings, embedded_database_file, embedded_folder
from redhorn.writers.embedded import EmbeddedExecutor
from redhorn.writers.model import WriteRequest, WriteResult
from redhorn.writers.vbs import VbsTransport

logger = logging.getLogger("redhorn.writers")


class Writer(Protocol):
    # Whether `execute` records a keyed write's receipt in the write's own transaction, so that
    # `find_receipt` can tell after a crash whether it committed (the embedded writer can; VBS cannot).
    records_receipts: bool

    async def execute(self, database: str, request: WriteRequest, *, receipt: str | None = None) -> WriteResult: ...

    async def find_receipt(self, database: str, receipt: str) -> WriteResult | None: ...

    async def close(self) -> None: ...


class NoWriter:
    """The writer when none can be: every write is refused with the reason."""

    records_receipts = False

    async def find_receipt(self, database: str, receipt: str) -> WriteResult | None:
        return None

    async def execute(self, database: str, request: WriteRequest, *, receipt: str | None = None) -> WriteResult:
        raise WritesNotConfigured(
            "Writes go through Visma Business Services; set VismaConnection.VbsEndpointAddress to enable them"
        )

    async def close(self) -> None:
        return None


def create_writer(settings: Settings, root: Path, database_of: Callable[[str], Database]) -> Writer:
    """The writer the settings ask for: `VbsWriter` when set; else VBS when an address is set, else the
    embedded engine's files, else none.

    Raises:
        WrapperLoadError: `VbsWriter` is "wrapper" and Visma's wrapper cannot be loaded (stops startup).
    """
    writer = settings.visma_connection.writer
    if writer == "wrapper":
        from redhorn.writers.wrapper import WrapperWriter  # loads .NET only for the settings that ask for it

        try:
            return WrapperWriter(settings, root, database_of)
        except WrapperLoadError as exc:
            # One line that says what to fix, ahead of the server's traceback of the failed startup.
            logger.error("Cannot start: %s", exc)
            raise
    if writer == "contract":
        return VbsTransport(settings)
    folder = embedded_folder(settings, root)
    if folder is not None:
        path_of = partial(embedded_database_file, folder)
        return EmbeddedExecutor(
            path_of,
            database_of,
            busy_timeout=settings.writes.busy_timeout_seconds,
            tombstone_days=settings.writes.tombstone_days,
        )
    return NoWriter()
