"""Output files, one per resource, appended a page at a time and cut back to a committed length on resume.

NDJSON and CSV are written in place. Parquet cannot be appended to after a crash, so its pages go to a
spool file (NDJSON) beside it, and the Parquet file is made from the spool once every page is in:
its column types are inferred from all the rows, then the rows are written in row groups.
"""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import msgspec

from redhorn.client.errors import UsageError

FORMATS = ("ndjson", "csv", "parquet")
EXTENSIONS = {"ndjson": "ndjson", "csv": "csv", "parquet": "parquet"}
ENCODER = msgspec.json.Encoder(decimal_format="number")
BOM = "\ufeff".encode()


class Writer(Protocol):
    """Where one resource's rows go."""

    path: Path
    columns: list[str] | None

    def start(self, committed: int) -> None:
        """Open the output, keeping its first `committed` bytes (0: start afresh)."""

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Append `rows`, flushed to disk; the output's length after them."""

    def finish(self) -> None:
        """Close the output; every page has been written."""

    def close(self) -> None:
        """Close the output, whatever happened; safe to call twice."""


class _AppendFile:
    """A file appended to in bytes, cut back to the committed length when opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: BinaryIO | None = None

    def open(self, committed: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("r+b" if committed and self.path.exists() else "wb")
        handle.truncate(committed)
        handle.seek(committed)
        self._handle = handle

    def append(self, data: bytes) -> int:
        assert self._handle is not None, "open() first"
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class NdjsonWriter:
    """One JSON object a line, numbers exactly as the server sent them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        self._file = _AppendFile(path)

    def start(self, committed: int) -> None:
        self._file.open(committed)

    def write(self, rows: list[dict[str, Any]]) -> int:
        return self._file.append(b"".join(ENCODER.encode(row) + b"\n" for row in rows))

    def finish(self) -> None:
        self._file.close()

    def close(self) -> None:
        self._file.close()


class CsvWriter:
    """RFC 4180 CSV in UTF-8 with a BOM (so Excel reads it as UTF-8), a header row, CRLF line ends."""

    def __init__(self, path: Path, separator: str = ",") -> None:
        if len(separator) != 1 or separator in '"\r\n':
            raise UsageError(f"--separator must be one character other than a quote or a line break, not {separator!r}")
        self.path = path
        self.separator = separator
        self.columns: list[str] | None = None
        self._file = _AppendFile(path)
        self._length = 0

    def start(self, committed: int) -> None:
        self._file.open(committed)
        self._length = committed

    def write(self, rows: list[dict[str, Any]]) -> int:
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.separator, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        prefix = b""
        if self._length == 0:
            prefix = BOM
        if self.columns is None and rows:
            self.columns = list(dict.fromkeys(name for row in rows for name in row))
            writer.writerow(self.columns)
        columns = self.columns or []
        for row in rows:
            writer.writerow([csv_value(row.get(name)) for name in columns])
        self._length = self._file.append(prefix + text.getvalue().encode("utf-8"))
        return self._length

    def finish(self) -> None:
        self._file.close()

    def close(self) -> None:
        self._file.close()


def csv_value(value: Any) -> str:
    """A cell: empty for null, `true`/`false`, decimals with every digit, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal | float):
        return str(value)
    return ENCODER.encode(value).decode("utf-8")


class ParquetWriter:
    """Pages spooled as NDJSON, made into `<resource>.parquet` at the end (see the module's docstring)."""

    ROW_GROUP_ROWS = 50_000

    def __init__(self, path: Path) -> None:
        from redhorn.client.parquet import require_pyarrow

        require_pyarrow()
        self.path = path
        self.columns: list[str] | None = None
        self.spool = path.with_name(f".{path.name}.spool.ndjson")
        self._spool = NdjsonWriter(self.spool)

    def start(self, committed: int) -> None:
        self._spool.start(committed)

    def write(self, rows: list[dict[str, Any]]) -> int:
        return self._spool.write(rows)

    def finish(self) -> None:
        from redhorn.client.parquet import spool_to_parquet

        self._spool.finish()
        spool_to_parquet(self.spool, self.path, self.ROW_GROUP_ROWS)
        self.spool.unlink(missing_ok=True)

    def close(self) -> None:
        self._spool.close()


def open_writer(format_name: str, out: Path, resource: str, separator: str = ",") -> Writer:
    """The writer of `resource` in `format_name`, into `out/<resource>.<ext>`."""
    path = out / f"{resource}.{EXTENSIONS[format_name]}"
    if format_name == "ndjson":
        return NdjsonWriter(path)
    if format_name == "csv":
        return CsvWriter(path, separator)
    if format_name == "parquet":
        return ParquetWriter(path)
    raise UsageError(f"unknown format {format_name!r}; use one of {', '.join(FORMATS)}")
