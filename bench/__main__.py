"""`make bench`: redhorn against its peers, measured side by side in one run.

Every figure is the median of several interleaved rounds, and every comparison is a ratio against
a peer measured in the same run, because the machines are noisy. Sections:

- page:  the 100-row sorted page, redhorn (HTTP behind a trusted proxy, and HTTPS) against a
         hand-written Starlette floor, the limit floor (raw ASGI, every trick redhorn uses and
         nothing else), FastAPI + SQLAlchemy + Pydantic as an integrator would write it, and
         datasette, with wrk on loopback, one worker each.
- pull:  a whole-table pull of the 1,000,000 order lines through nextLinks, against $skip paging
         at the same depths and datasette's own `_next` pagination over the same file.
- engines: the same page and a 100,000-row nextLink pull through aiosqlite and through aioodbc
         (the SQLite ODBC driver), with the CPU each thread spends per statement.
- auth:  what a Basic or Bearer credential check costs per request, in process.
- openapi: the OpenAPI document's build time for the demo and a 350-table x 40-column company.
- crawl: the catalog crawl of a synthetic 350-table x 40-column company database.
- parse: how long the largest input each query option allows takes to parse.
- starvation: the p99 of key GETs while six heavy scans run on the same company, against idle.
- writes: creates per second (an associate; an order with 20 lines) from 50 clients, against
         plain sqlite3 INSERTs of the same rows.
- expand: a 100-order page with and without `$expand=OrderLines`, all columns and a few.
- apply: `$apply` groupby over the order lines against the same GROUP BY in sqlite3.
- compression: gzip, brotli and zstd levels on real pages: time per page against bytes saved.
- export: every order line as one NDJSON stream (plain and zstd) against nextLink pages of 1,000.
- observability: the 100-row page with logs and metrics on against both off.
- cluster: the 100-row page from --workers 2 against one worker, and two hosts behind nginx
         (shared Redis) against one host.
- profile: the 100-row page profiled in process under wrk: the top frames by self time, so that
         the next change starts from a measurement.

Run one section with `python -m bench page`; the default runs them all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.apply import bench_apply
from bench.cluster import bench_cluster
from bench.compression import bench_compression
from bench.engines import bench_engines
from bench.export import bench_export
from bench.observability import bench_observability
from bench.parse import bench_parse
from bench.profile import bench_profile
from bench.servers import bearer_token
from bench.starvation import bench_starvation
from bench.writes import bench_writes
from bench.wrk import Load, median_load, run_wrk

ROUNDS = 5
RESULTS = servers.ROOT / "bench" / "results"
FORWARDED = servers.FORWARDED


def check_equivalent(urls: dict[str, str], headers: dict[str, dict[str, str]]) -> None:
    """Every contender answers the same 100 rows before any is timed."""
    first: dict[str, list[int]] = {}
    for name, url in urls.items():
        response = httpx.get(url, headers=headers[name], verify=False, timeout=60)
        response.raise_for_status()
        body = response.json()
        rows = body if isinstance(body, list) else body.get("value", body.get("rows"))
        first[name] = [row["OrderNo"] if "OrderNo" in row else row["OrdNo"] for row in rows]
    reference = next(iter(first.values()))
    for name, numbers in first.items():
        if numbers != reference or len(numbers) != 100:
            raise SystemExit(f"{name} does not answer the same 100 rows")


def print_table(title: str, loads: dict[str, Load]) -> None:
    print(f"\n{title}")
    print(f"  {'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, load in loads.items():
        print(f"  {name:34} {load.requests_per_second:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")


Contenders = dict[str, tuple[str, str | None]]


def measure(start: Callable[[], contextlib.AbstractContextManager[Contenders]]) -> dict[str, Load]:
    """wrk on each contender's (URL, Authorization), in interleaved rounds.

    Every round starts fresh server processes: on these machines one process of the same program
    runs 10-15% faster or slower than another (memory layout alone), which the median over rounds
    evens out. Each round also begins with another contender, so none always runs first or last.
    """
    rounds: dict[str, list[Load]] = {}
    for round_no in range(ROUNDS):
        with start() as contenders:
            headers = {
                name: {**FORWARDED, **({"Authorization": auth} if auth else {})}
                for name, (_, auth) in contenders.items()
            }
            if round_no == 0:
                check_equivalent({name: url for name, (url, _) in contenders.items()}, headers)
            names = list(contenders)
            for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
                rounds.setdefault(name, []).append(run_wrk(contenders[name][0], headers=headers[name]))
    return {name: median_load(values) for name, values in rounds.items()}


# The properties of Order that the dictionary named before it held the whole model (53 columns):
# the page the bench measured before, beside today's 308-column one.
NARROW_ORDER_PROPERTIES = (
    "OrderNo",
    "OrderDate",
    "OrderType",
    "TransactionType",
    "CustomerNo",
    "SupplierNo",
    "Name",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "PostCode",
    "PostalArea",
    "DeliveryName",
    "DeliveryAddress1",
    "DeliveryAddress2",
    "DeliveryAddress3",
    "DeliveryPostCode",
    "DeliveryPostalArea",
    "DeliveryMethod",
    "DeliveryTerms",
    "DeliveryDate",
    "CustomerOrSupplierOrderNo",
    "Information1",
    "Information2",
    "Information3",
    "Information4",
    "Information5",
    "Information6",
    "YourReference",
    "OurReference",
    "CurrencyNo",
    "ExchangeRate",
    "SellerOrBuyer",
    "PaymentTerms",
    "OrgUnit1",
    "OrgUnit2",
    "Group1",
    "Group12",
    "TransactionGroup1",
    "TransactionGroup2",
    "ContractAmountInCurrency",
    "OrderSumInCurrency",
    "MemoFileName",
    "ContactAssociateNo",
    "DeliveryAssociateNo",
    "ShipperAssociateNo",
    "InvoiceNo",
    "InvoiceCustomerNo",
    "MainOrderNo",
    "OrderBasisNo",
    "ArrivalDate",
    "Free1",
    "WebPage",
)


def bench_page(work: Path) -> dict[str, Any]:
    settings_file = servers.bench_settings(work)
    path = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
    narrow_path = path + "&$select=" + ",".join(NARROW_ORDER_PROPERTIES)
    basic = "Basic " + base64.b64encode(":".join(servers.BENCH_USER).encode()).decode()
    peer_path = "/F9999/Ord.json?_sort_desc=OrdNo&_size=100&_shape=array&_nocount=1"

    @contextlib.contextmanager
    def start() -> Iterator[Contenders]:
        with (
            servers.redhorn(settings_file, tls=False) as plain,
            servers.redhorn(settings_file, tls=True) as secure,
            servers.redhorn_without_authentication(settings_file) as open_,
            servers.floor() as floor,
            servers.limit_floor() as limit,
            servers.fastapi_peer() as fastapi,
            servers.datasette(servers.ROOT / "data" / "F9999.db") as peer,
        ):
            bearer = "Bearer " + bearer_token(plain)
            yield {
                "redhorn (http, bearer)": (f"http://127.0.0.1:{plain}{path}", bearer),
                "redhorn (http, basic)": (f"http://127.0.0.1:{plain}{path}", basic),
                "redhorn (http, no authentication)": (f"http://127.0.0.1:{open_}{path}", None),
                "redhorn (https, bearer)": (f"https://127.0.0.1:{secure}{path}", bearer),
                "starlette floor (http)": (f"http://127.0.0.1:{floor}/orders", None),
                "limit floor (http)": (f"http://127.0.0.1:{limit}/orders", None),
                "redhorn (http, bearer, 53 columns)": (f"http://127.0.0.1:{plain}{narrow_path}", bearer),
                "starlette floor (http, 53 columns)": (f"http://127.0.0.1:{floor}/orders/narrow", None),
                "datasette (http)": (f"http://127.0.0.1:{peer}{peer_path}", None),
                "fastapi+sqlalchemy (http)": (f"http://127.0.0.1:{fastapi}/orders?top=100", None),
            }

    loads = measure(start)
    title = "100-row page of orders sorted by OrderNo desc, all columns unless named"
    print_table(f"{title} (median of {ROUNDS} rounds, wrk -c16)", loads)
    ours = loads["redhorn (http, bearer)"].requests_per_second
    unauthenticated = loads["redhorn (http, no authentication)"].requests_per_second
    ratios = {
        "redhorn / starlette floor": ours / loads["starlette floor (http)"].requests_per_second,
        "redhorn / limit floor": ours / loads["limit floor (http)"].requests_per_second,
        "redhorn / floor, 53 columns": loads["redhorn (http, bearer, 53 columns)"].requests_per_second
        / loads["starlette floor (http, 53 columns)"].requests_per_second,
        "all columns / 53 columns (redhorn)": ours / loads["redhorn (http, bearer, 53 columns)"].requests_per_second,
        "redhorn / datasette": ours / loads["datasette (http)"].requests_per_second,
        "redhorn / fastapi+sqlalchemy": ours / loads["fastapi+sqlalchemy (http)"].requests_per_second,
        "redhorn https / redhorn http": loads["redhorn (https, bearer)"].requests_per_second / ours,
        "bearer / no authentication": ours / unauthenticated,
        "basic / no authentication": loads["redhorn (http, basic)"].requests_per_second / unauthenticated,
    }
    goals = {"redhorn / limit floor": 0.9, "redhorn / fastapi+sqlalchemy": 5.0}
    for name, ratio in ratios.items():
        goal = f"   (goal >= {goals[name]:g})" if name in goals else ""
        print(f"  {name:34} {ratio:9.2f}{goal}")
    return {"loads": {k: v.__dict__ for k, v in loads.items()}, "ratios": ratios}


class Pull:
    """One whole-table pull: per-page times in order, and the rows it returned."""

    def __init__(self) -> None:
        self.page_seconds: list[float] = []
        self.rows = 0

    def figures(self) -> dict[str, float]:
        first = statistics.median(self.page_seconds[:10])
        last = statistics.median(self.page_seconds[-10:])
        total = sum(self.page_seconds)
        return {
            "rows": self.rows,
            "pages": len(self.page_seconds),
            "seconds": total,
            "rows_per_second": self.rows / total,
            "first10_ms": first * 1000,
            "last10_ms": last * 1000,
            "last_over_first": last / first,
        }


def pull_pages(
    client: httpx.Client, url: str, rows_of: Callable[[Any], list[Any]], next_of: Callable[[Any], Any]
) -> Pull:
    pull = Pull()
    next_url: str | None = url
    while next_url:
        started = time.perf_counter()
        response = client.get(next_url)
        response.raise_for_status()
        body = response.json()
        pull.page_seconds.append(time.perf_counter() - started)
        pull.rows += len(rows_of(body))
        next_url = next_of(body)
    return pull


def plain_http(link: str | None) -> str | None:
    return link.replace("https://", "http://", 1) if link else None


def skip_pages(client: httpx.Client, url: str, depths: list[int]) -> list[float]:
    seconds = []
    for depth in depths:
        started = time.perf_counter()
        response = client.get(f"{url}&$top=1000&$skip={depth}")
        response.raise_for_status()
        assert len(response.json()["value"]) == 1000
        seconds.append(time.perf_counter() - started)
    return seconds


def bench_pull(work: Path) -> dict[str, Any]:
    """A whole-table pull of the order lines: keyset nextLinks against $skip and datasette's _next."""
    settings_file = servers.bench_settings(work)
    with sqlite3.connect(servers.ROOT / "data" / "F9999.db") as connection:
        total = connection.execute("SELECT COUNT(*) FROM OrdLn").fetchone()[0]
    with (
        servers.redhorn(settings_file, tls=False) as plain,
        servers.datasette(servers.ROOT / "data" / "F9999.db") as peer,
    ):
        headers = {**FORWARDED, "Authorization": "Bearer " + bearer_token(plain)}
        url = f"http://127.0.0.1:{plain}/api/9999/orderlines?$select=OrderNo,LineNo,AmountInCurrency"
        with httpx.Client(headers=headers, timeout=120) as client:
            # The links name https (the trusted-proxy header says so); the pull stays on plain HTTP
            # like datasette's, so the two compare without TLS in between.
            ours = pull_pages(
                client, url, lambda body: body["value"], lambda body: plain_http(body.get("@odata.nextLink"))
            )
            pages = len(ours.page_seconds)
            depths = [page * 1000 for page in [*range(10), *range(pages - 10, pages)]]
            skipped = skip_pages(client, url, depths)
        peer_url = f"http://127.0.0.1:{peer}/F9999/OrdLn.json?_col=Am&_size=1000&_nocount=1"
        with httpx.Client(timeout=120) as client:
            theirs = pull_pages(client, peer_url, lambda body: body["rows"], lambda body: body.get("next_url"))
    if ours.rows != total or theirs.rows != total:
        raise SystemExit(f"pulls returned {ours.rows} and {theirs.rows} rows, the table has {total}")
    skip_first, skip_last = statistics.median(skipped[:10]), statistics.median(skipped[10:])
    results = {
        "redhorn nextLink": ours.figures(),
        "redhorn $skip": {
            "first10_ms": skip_first * 1000,
            "last10_ms": skip_last * 1000,
            "last_over_first": skip_last / skip_first,
        },
        "datasette _next": theirs.figures(),
    }
    print(f"\nWhole-table pull of {total:,} order lines, 3 properties, 1000-row pages, one client")
    print(f"  {'':22} {'rows/s':>10} {'first 10 ms':>12} {'last 10 ms':>11} {'last/first':>11}")
    for name, figures in results.items():
        rate = f"{figures['rows_per_second']:10.0f}" if "rows_per_second" in figures else f"{'':>10}"
        print(
            f"  {name:22} {rate} {figures['first10_ms']:12.2f} {figures['last10_ms']:11.2f}"
            f" {figures['last_over_first']:11.2f}"
        )
    ratio = results["redhorn nextLink"]["rows_per_second"] / results["datasette _next"]["rows_per_second"]
    print(f"  redhorn / datasette rows/s {ratio:8.2f}   (nextLink last/first target <= 1.5)")
    results["redhorn / datasette rows_per_second"] = {"ratio": ratio}
    return results


def synthetic_schema(path: Path, tables: int = 350, columns: int = 40) -> None:
    connection = sqlite3.connect(path)
    for t in range(tables):
        definitions = ", ".join(
            f'"C{c}" {("INT", "VARCHAR(80)", "DECIMAL(28,6)")[c % 3]} NOT NULL DEFAULT 0' for c in range(columns)
        )
        connection.execute(f'CREATE TABLE "T{t}" ({definitions}, PRIMARY KEY ("C0", "C3"))')
    connection.commit()
    connection.close()


def timed(function: Callable[[], Any], repeat: int = 7) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_crawl(work: Path) -> dict[str, Any]:
    from redhorn.catalog.crawler import build_database, catalog_columns, crawl_database
    from redhorn.catalog.dictionary import load_dictionary
    from redhorn.engines.sqlite import SqliteEngine

    synthetic_schema(work / "F0350.db")
    dictionary = load_dictionary()

    def crawl_once() -> None:
        async def run() -> None:
            engine = SqliteEngine(work)
            try:
                database = await crawl_database(engine, "F0350", "company", dictionary)
                assert len(database.tables) == 350
            finally:
                await engine.close()

        asyncio.run(run())

    with sqlite3.connect(work / "F0350.db") as connection:
        from redhorn.sql.sqlite import SqliteDialect

        rows = connection.execute(SqliteDialect().catalog_statements()[0].sql).fetchall()
    crawl_seconds = timed(crawl_once)
    merge_seconds = timed(lambda: build_database("F0350", "company", catalog_columns(rows), dictionary))
    demo_seconds = timed(lambda: asyncio.run(_crawl_one(servers.ROOT / "data", "F9999")))
    print("\nCatalog crawl (median of 7)")
    print(f"  demo company, the whole model (320 tables)  {demo_seconds * 1000:8.1f} ms   (target < 1000 ms)")
    print(f"  synthetic 350 x 40: connect, query, merge   {crawl_seconds * 1000:8.1f} ms   (target < 1000 ms)")
    print(f"  synthetic 350 x 40: merge alone             {merge_seconds * 1000:8.1f} ms")
    return {"demo_crawl_ms": demo_seconds * 1000, "crawl_ms": crawl_seconds * 1000, "merge_ms": merge_seconds * 1000}


def bench_auth(work: Path) -> dict[str, Any]:
    """What checking credentials costs per request, measured in process (no network noise)."""
    from starlette.requests import HTTPConnection

    import redhorn
    from redhorn.auth.backends import ApiAuthenticationBackend
    from redhorn.settings import load_settings

    app = redhorn.create_app(load_settings(servers.bench_settings(work)))
    authenticator = app.state.authenticator
    backend = ApiAuthenticationBackend(authenticator)
    token = authenticator.tokens.issue(authenticator.users.principal(servers.BENCH_USER[0]))
    headers = {
        "basic": b"Basic " + base64.b64encode(":".join(servers.BENCH_USER).encode()),
        "bearer": b"Bearer " + token.encode(),
    }
    results: dict[str, Any] = {}
    print("\nCredential check per request, in process (median of 7 runs of 20,000)")
    for name, header in headers.items():
        scope = {
            "type": "http",
            "path": "/api/9999/orders",
            "query_string": b"$top=100&$orderBy=OrderNo%20desc",
            "headers": [(b"host", b"bench"), (b"authorization", header)],
            "client": ("127.0.0.1", 1),
        }

        async def check(scope: dict[str, Any] = scope) -> None:
            for _ in range(20_000):
                await backend.authenticate(HTTPConnection(scope))

        asyncio.run(check())  # warm: the first check hashes or verifies, later ones are remembered
        microseconds = timed(lambda check=check: asyncio.run(check())) / 20_000 * 1e6  # type: ignore[misc]
        results[f"{name}_us"] = microseconds
        print(f"  {name:8} {microseconds:8.2f} us")
    return results


def bench_openapi(work: Path) -> dict[str, Any]:
    """Building the OpenAPI document: the demo company, and a synthetic 350-table x 40-column one."""
    from redhorn.catalog.crawler import crawl
    from redhorn.catalog.dictionary import load_dictionary
    from redhorn.engines.sqlite import SqliteEngine
    from redhorn.metadata import Company, Metadata
    from redhorn.openapi.document import build_openapi

    work = work / "openapi"
    work.mkdir()
    synthetic_schema(work / "F0350.db")
    for name in ("vbsys.db", "Catalog.db"):
        shutil.copy(servers.ROOT / "data" / name, work / name)

    async def metadata_of(folder: Path) -> Metadata:
        engine = SqliteEngine(folder)
        try:
            return await crawl(engine, load_dictionary())
        finally:
            await engine.close()

    demo = asyncio.run(metadata_of(servers.ROOT / "data"))
    base = asyncio.run(metadata_of(work))
    synthetic_database = asyncio.run(_crawl_one(work, "F0350"))
    synthetic = Metadata({**base.databases, "F0350": synthetic_database}, {350: Company(350, "Synthetic", "F0350")})
    results: dict[str, Any] = {}
    print("\nOpenAPI document build, once per company then cached (median of 7)")
    for label, metadata, company in (("demo company 9999", demo, 9999), ("350 tables x 40 columns", synthetic, 350)):
        seconds = timed(lambda m=metadata, c=company: build_openapi(m, c, version="bench"))  # type: ignore[misc]
        size = len(json.dumps(build_openapi(metadata, company, version="bench")))
        results[label] = {"build_ms": seconds * 1000, "bytes": size}
        print(f"  {label:26} {seconds * 1000:8.1f} ms   {size / 1e6:6.2f} MB   (target < 1000 ms)")
    return results


def bench_odata_metadata(work: Path) -> dict[str, Any]:
    """Building `$metadata` (CSDL XML and JSON): the demo company, and a synthetic 350-table x 40-column one."""
    from redhorn.encoding import encode
    from redhorn.odata.csdl import csdl_json, csdl_xml

    work = work / "odata-metadata"
    work.mkdir()
    synthetic_schema(work / "F0350.db")
    demo = asyncio.run(_crawl_one(servers.ROOT / "data", "F9999"))
    synthetic = asyncio.run(_crawl_one(work, "F0350"))
    results: dict[str, Any] = {}
    print("\nOData $metadata build, once per company then cached (median of 7)")
    for label, database in (("demo company 9999", demo), ("350 tables x 40 columns", synthetic)):
        for kind, build in (("xml", lambda d=database: csdl_xml(d)), ("json", lambda d=database: encode(csdl_json(d)))):
            seconds = timed(build)  # type: ignore[misc]
            size = len(build())  # type: ignore[misc]
            results[f"{label} {kind}"] = {"build_ms": seconds * 1000, "bytes": size}
            print(f"  {label:26} {kind:4} {seconds * 1000:8.1f} ms   {size / 1e6:6.2f} MB   (target < 1000 ms)")
    return results


async def _crawl_one(folder: Path, name: str) -> Any:
    from redhorn.catalog.crawler import crawl_database
    from redhorn.catalog.dictionary import load_dictionary
    from redhorn.engines.sqlite import SqliteEngine

    engine = SqliteEngine(folder)
    try:
        return await crawl_database(engine, name, "company", load_dictionary())
    finally:
        await engine.close()


# Every column of both tables, and what an integration typically asks for: a few of each.
EXPAND_SHAPES = {
    "all columns": ("", "$expand=OrderLines"),
    "a few columns": (
        "$select=OrderNo,CustomerNo,OrderDate",
        "$expand=OrderLines($select=LineNo,ProductNo,Quantity,PriceInCurrency)",
    ),
}


def bench_expand(work: Path) -> dict[str, Any]:
    """A 100-order page with `$expand=OrderLines` against the same page without it (goal: at most 3x the cost).

    The cost is set beside the bytes: with every column, the expanded page carries about seven
    times the plain page's data (some 4.7 lines an order, each wider than its order), which bounds
    what any server can do; with a few columns the bytes no longer dominate.
    """
    settings_file = servers.bench_settings(work)
    base = "/api/9999/orders?$top=100&$orderBy=OrderNo%20desc"
    results: dict[str, Any] = {}
    for shape, (select, expand) in EXPAND_SHAPES.items():
        path = base + (f"&{select}" if select else "")
        expanded = f"{path}&{expand}"

        @contextlib.contextmanager
        def start(path: str = path, expanded: str = expanded) -> Iterator[Contenders]:
            with servers.redhorn(settings_file, tls=False) as plain:
                bearer = "Bearer " + bearer_token(plain)
                yield {
                    "redhorn page": (f"http://127.0.0.1:{plain}{path}", bearer),
                    "redhorn page, $expand=OrderLines": (f"http://127.0.0.1:{plain}{expanded}", bearer),
                }

        with servers.redhorn(settings_file, tls=False) as port:
            headers = {"Authorization": "Bearer " + bearer_token(port), **FORWARDED}
            sizes = [
                len(httpx.get(f"http://127.0.0.1:{port}{url}", headers=headers).content) for url in (path, expanded)
            ]
        loads = measure(start)
        print_table(f"100 orders, {shape}, with and without $expand (median of {ROUNDS} rounds, wrk -c16)", loads)
        plain_rate = loads["redhorn page"].requests_per_second
        cost = plain_rate / loads["redhorn page, $expand=OrderLines"].requests_per_second
        bytes_ratio = sizes[1] / sizes[0]
        print(
            f"  cost of $expand: {cost:.2f}x the page without it (goal: at most 3x); "
            f"bytes {sizes[0] / 1e3:.0f} kB -> {sizes[1] / 1e3:.0f} kB ({bytes_ratio:.2f}x)"
        )
        results[shape] = {
            "loads": {k: v.__dict__ for k, v in loads.items()},
            "expand_cost": cost,
            "bytes": sizes,
            "bytes_ratio": bytes_ratio,
        }
    return results


SECTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "auth": bench_auth,
    "engines": bench_engines,
    "page": bench_page,
    "expand": bench_expand,
    "apply": lambda work: dict(bench_apply(work, servers.ROOT / "data")),
    "pull": bench_pull,
    "crawl": bench_crawl,
    "openapi": bench_openapi,
    "odata-metadata": bench_odata_metadata,
    "writes": bench_writes,
    "starvation": bench_starvation,
    "parse": bench_parse,
    "compression": bench_compression,
    "export": bench_export,
    "observability": bench_observability,
    "cluster": bench_cluster,
    "profile": bench_profile,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    latest = RESULTS / "latest.json"
    results: dict[str, Any] = json.loads(latest.read_text()) if latest.is_file() else {}
    with tempfile.TemporaryDirectory() as temporary:
        for name in chosen:
            results[name] = SECTIONS[name](Path(temporary))
    latest.write_text(json.dumps(results, indent=2))
    print(f"\nWritten to {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
