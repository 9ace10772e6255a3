"""Parquet from the spooled NDJSON of a pull: column types inferred from every row, row groups of a bound size.

pyarrow is the optional extra `pull` (`pip install redhorn[pull]`), imported only here and only when
Parquet is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from redhorn.client.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

DECODER = msgspec.json.Decoder(float_hook=Decimal)
ENCODER = msgspec.json.Encoder(decimal_format="number")
MAX_PRECISION = 38


def require_pyarrow() -> None:
    """Fail in one line when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError("--format parquet needs pyarrow: pip install 'redhorn[pull]'") from None


@dataclass
class ColumnType:
    """What the values of one column have been so far; widened as rows are read."""

    kind: str = "null"  # null, bool, int, decimal, string
    scale: int = 0
    digits: int = 1  # digits before the decimal point

    def see(self, value: Any) -> None:
        kind = _kind_of(value)
        if kind == "null" or self.kind == "string":
            return
        if kind in ("int", "decimal"):
            self._see_number(value)
        if self.kind == "null":
            self.kind = kind
        elif self.kind != kind:
            numbers = {self.kind, kind} <= {"int", "decimal"}
            self.kind = "decimal" if numbers else "string"

    def _see_number(self, value: int | Decimal) -> None:
        sign, digits, exponent = Decimal(value).as_tuple()
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        self.scale = max(self.scale, scale)
        self.digits = max(self.digits, len(digits) - scale if isinstance(exponent, int) else 1)

    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        if self.kind == "int":
            return pa.int64()
        if self.kind == "bool":
            return pa.bool_()
        if self.kind == "decimal":
            precision = self.digits + self.scale
            if precision > MAX_PRECISION:
                return pa.float64()
            return pa.decimal128(max(precision, 1), self.scale)
        return pa.string()


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "decimal"
    if isinstance(value, Decimal | float):
        return "decimal"
    return "string"


def _rows(spool: Path) -> Iterator[dict[str, Any]]:
    with spool.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield DECODER.decode(line)


def infer_schema(spool: Path) -> pa.Schema:
    """Every column of the spooled rows, in first-seen order, with the narrowest type that holds them all."""
    import pyarrow as pa

    types: dict[str, ColumnType] = {}
    for row in _rows(spool):
        for name, value in row.items():
            types.setdefault(name, ColumnType()).see(value)
    return pa.schema([(name, kind.arrow_type()) for name, kind in types.items()])


def _cell(value: Any, kind: pa.DataType) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(kind) and not isinstance(value, str):
        return value if isinstance(value, str) else ENCODER.encode(value).decode("utf-8")
    if pa.types.is_decimal(kind):
        return Decimal(value)
    if pa.types.is_floating(kind):
        return float(value)
    return value


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    arrays = [pa.array([_cell(row.get(field.name), field.type) for row in rows], type=field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def spool_to_parquet(spool: Path, target: Path, row_group_rows: int) -> None:
    """Write the spool's rows to `target` (replaced atomically), `row_group_rows` rows a row group."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = infer_schema(spool)
    temporary = target.with_name(target.name + ".tmp")
    with pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for row in _rows(spool):
            batch.append(row)
            if len(batch) >= row_group_rows:
                writer.write_table(_table(batch, schema))
                batch = []
        if batch or not schema:
            writer.write_table(_table(batch, schema))
    os.replace(temporary, target)
