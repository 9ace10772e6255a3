"""How long the largest inputs each query option allows take to parse, in process.

Every option's loops are bounded (list lengths, name lengths, filter size and depth, a query string
of 8 KB at most); the test suite asserts a bound of 50 ms on each, and this section reports the
figures: the median of many parses, in microseconds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from redhorn.odata.parser import MAX_CALL_DEPTH, MAX_LIST_ITEMS, MAX_NAME_LENGTH, QueryLimits, parse_query_options

REPEAT = 50
LARGEST = {
    "$select, 1,024 names": ("$select", ",".join(f"P{number}" for number in range(MAX_LIST_ITEMS))),
    "$select, longest names": ("$select", ",".join("N" * (MAX_NAME_LENGTH - 4) + f"{n:04d}" for n in range(60))),
    "$orderby, 1,024 names": ("$orderby", ",".join(f"P{number} desc" for number in range(MAX_LIST_ITEMS))),
    "$filter, 4,000 characters": ("$filter", " and ".join(["OrderNo eq 1"] * 300)[:3995].rsplit(" and", 1)[0]),
    "$filter, deepest nesting": ("$filter", "(" * 40 + "OrderNo eq 1" + ")" * 40),
    "$filter, deepest calls": ("$filter", "tolower(" * MAX_CALL_DEPTH + "Name" + ")" * MAX_CALL_DEPTH + " eq 'x'"),
    "$filter, longest in()": ("$filter", "OrderNo in (" + ",".join(["1"] * 1900) + ")"),
    "$skiptoken, 4,096 characters": ("$skiptoken", "x" * 4096),
}


def _microseconds(option: str, value: str) -> float:
    timings = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        try:
            parse_query_options([(option, value)], QueryLimits(max_filter_nodes=10_000))
        except Exception:  # a refusal is the bounded work measured here too
            pass
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def bench_parse(work: Path) -> dict[str, Any]:
    print(f"\nParsing the largest input each option allows (median of {REPEAT}, in process)")
    figures = {}
    for name, (option, value) in LARGEST.items():
        figures[name] = _microseconds(option, value)
        print(f"  {name:34} {figures[name]:9.0f} µs   (bound in the tests: 50,000 µs)")
    return figures
