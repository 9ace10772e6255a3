"""The resume file: for each resource, where its pull stands, rewritten atomically after every page.

A page is committed when its rows are in the output file (flushed to disk) and this file names the
link of the page after it and the output's length. After a crash or Ctrl-C the output is cut back to
that length and the pull goes on from that link, so no row is written twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

import msgspec

Phase = Literal["paging", "fetched", "done"]


class ResourceState(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One resource's pull: the query it belongs to, the next page's link, what the output holds."""

    query: str
    phase: Phase = "paging"
    next_link: str | None = None
    rows: int = 0
    bytes: int = 0
    count: int | None = None
    columns: list[str] | None = None


class _Document(msgspec.Struct):
    resources: dict[str, ResourceState] = {}


class StateFile:
    """The JSON resume file at `path`; a missing file is an empty one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resources: dict[str, ResourceState] = {}
        if path.is_file():
            self.resources = msgspec.json.decode(path.read_bytes(), type=_Document).resources

    def get(self, resource: str) -> ResourceState | None:
        return self.resources.get(resource)

    def put(self, resource: str, state: ResourceState) -> None:
        """Record `state` and write the whole file again, atomically."""
        self.resources[resource] = state
        write_atomically(self.path, msgspec.json.format(msgspec.json.encode(_Document(self.resources))))


def write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, flush it to disk, and replace `path` with it.

    On Windows a reader holding `path` open makes the replace fail for a moment; it is tried again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    for attempt in range(10):
        try:
            os.replace(temporary, path)
            return
        except PermissionError:
            if attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))
