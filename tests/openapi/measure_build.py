"""How long the OpenAPI document of a large company takes to build: a measurement, not a test.

Run `python -m tests.openapi.measure_build` and read the times. The target is under one second for
a company of 320 tables with up to 413 columns each (the largest Visma Business table has 413),
some of whose columns have value domains. It is not a timed test because a loaded CI machine would
make such a test flaky; the number is reported where the build changes.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import get_args

from redhorn.metadata import Column, Company, Database, Metadata, Table, TypeKind
from redhorn.openapi.document import build_openapi

TABLES = 320
MAX_COLUMNS = 413
KINDS: tuple[TypeKind, ...] = get_args(TypeKind)


def _column(table_no: int, index: int, rng: random.Random) -> Column:
    kind = KINDS[rng.randrange(len(KINDS))] if index else "integer"
    values: tuple[tuple[str, int], ...] = ()
    domain = None
    if kind == "integer" and index and rng.random() < 0.3:
        domain = f"Domain{rng.randrange(200)}"
        values = tuple((f"Member{n}", n) for n in range(rng.randrange(2, 25)))
    return Column(
        f"C{index}",
        f"Column{index}",
        kind,
        "int" if kind == "integer" else "nvarchar(40)",
        nullable=rng.random() < 0.2,
        max_length=40 if kind == "string" else None,
        scale=2 if kind == "decimal" else None,
        number=table_no * 1000 + index,
        known=rng.random() < 0.95,
        value_domain=domain,
        values=values,
    )


def synthetic_metadata(*, tables: int = TABLES, columns: int = MAX_COLUMNS, every_table_full: bool = True) -> Metadata:
    """A company database of `tables` tables with `columns` columns each (or 20 to `columns`)."""
    rng = random.Random(413)
    made = []
    for number in range(tables):
        width = columns if every_table_full else rng.randrange(20, columns + 1)
        cols = tuple(_column(number, index, rng) for index in range(width))
        made.append(Table(f"T{number}", f"Table{number}", f"table{number}s", cols, cols[:1], number=number))
    database = Database("F0320", tuple(made))
    return Metadata({"F0320": database}, {320: Company(320, "Synthetic", "F0320")})


def measure(metadata: Metadata, runs: int = 5) -> list[float]:
    """Seconds per build of company 320's document, `runs` times."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        build_openapi(metadata, 320, version="measure")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    for label, full in (("320 tables x 413 columns", True), ("320 tables x 20..413 columns", False)):
        metadata = synthetic_metadata(every_table_full=full)
        columns = sum(len(table.columns) for table in metadata.databases["F0320"].tables)
        times = measure(metadata)
        print(
            f"{label:30} {columns:7} columns  median {statistics.median(times) * 1000:7.1f} ms"
            f"  min {min(times) * 1000:7.1f} ms  (target < 1000 ms)",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()
