"""Prometheus metrics: what the server counts, and `/metrics`, which shows them.

Labels are bounded whatever clients send: a request is counted under its route's template
(`/api/{database}/{resource}`), never its path; under its company only when that company (or
`vbsys`, `Catalog`) exists, else `other`; under its method when HTTP defines it, else `other`.
Each label set's child is looked up once and kept, so counting a request costs a dictionary
lookup and an increment.

Under `redhorn serve --workers N` each worker writes its values to files in
`PROMETHEUS_MULTIPROC_DIR` (a fresh folder `serve` makes for the run, see `multiprocess_folder`),
and whichever worker answers `/metrics` adds up all of them; prometheus-client reads that
variable when it is first imported, which in a worker is after `serve` set it. Pool gauges
count live workers only: a worker that stops marks its files dead.

`/metrics` is for operators: unless `Metrics.Public`, it answers only `Authorization: Bearer`
with `Metrics.Token`, a secret of its own (API users have company access, not roles: none of them
is an administrator, and a scraper's secret opens nothing else).
"""

from __future__ import annotations

import atexit
import hmac
import math
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from starlette.requests import Request
from starlette.responses import Response

from redhorn.engines.base import Engine, Lane
from redhorn.engines.pool import PooledEngine, PoolMeter
from redhorn.errors import AuthenticationRequired, InvalidCredentials, RouteNotFound
from redhorn.licensing.keeper import LicenceKeeper
from redhorn.metadata import Metadata
from redhorn.query.resolve import company_number
from redhorn.state import State

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"

# Seconds; a page of 100 rows takes a few milliseconds, an export or a write through VBS seconds.
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Waiting for a pool's connection: 0 is the usual case (a free connection at once).
_WAIT_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "redhorn_requests_total", "Requests answered, by route template, method, status and company.",
    ["route", "method", "status", "company"],
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "redhorn_request_duration_seconds", "Time from a request's arrival to the end of its answer.",
    ["route", "method"], buckets=_DURATION_BUCKETS,
)  # fmt: skip
WRITES = Counter(
    "redhorn_writes_total", "Writes by outcome: created, updated, deleted, or refused by status class (4xx, 5xx).",
    ["outcome"],
)  # fmt: skip
LOGIN_THROTTLED = Counter("redhorn_login_throttled_total", "Logins refused by the failed-login throttle (429).")
POOL_SIZE = Gauge(
    "redhorn_database_pool_size", "Connections a database's pool may hold, added up over the live workers.",
    ["database", "lane"], multiprocess_mode="livesum",
)  # fmt: skip
POOL_IN_USE = Gauge(
    "redhorn_database_pool_in_use", "Connections running a statement now, added up over the live workers.",
    ["database", "lane"], multiprocess_mode="livesum",
)  # fmt: skip
POOL_WAIT_SECONDS = Histogram(
    "redhorn_database_pool_wait_seconds", "Time a statement waited for a free connection of its pool.",
    ["database", "lane"], buckets=_WAIT_BUCKETS,
)  # fmt: skip
LICENCE_DAYS_LEFT = Gauge(
    "redhorn_licence_days_left", "Days until the licence expires; 0 without a valid one; NaN when unlicensed.",
    multiprocess_mode="livemostrecent",
)  # fmt: skip

# Methods counted under their own name; any other is `other`.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The routes of writes, and what a successful write of each method did.
WRITE_ROUTES = frozenset({"/api/{database}/{resource}", "/api/{database}/{resource}/{key:path}"})
_WRITE_OUTCOMES = {"POST": "created", "PUT": "updated", "PATCH": "updated", "DELETE": "deleted"}
OTHER = "other"


def multiprocess_folder(workers: int) -> Path | None:
    """For several workers, a fresh, empty folder for their metric files, named in the environment
    they inherit and removed when this process ends; None (in-process metrics) for one worker."""
    if workers <= 1:
        return None
    folder = Path(tempfile.mkdtemp(prefix="redhorn-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def worker_stopped() -> None:
    """This worker's live gauges (pool sizes and use) stop counting: it is going away."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _PoolMeter:
    """One pool's gauges and wait histogram, their label children bound once."""

    def __init__(self, database: str, lane: Lane, size: int) -> None:
        POOL_SIZE.labels(database, lane).set(size)
        self._in_use = POOL_IN_USE.labels(database, lane)
        self._wait = POOL_WAIT_SECONDS.labels(database, lane)

    def taken(self, waited: float) -> None:
        self._in_use.inc()
        self._wait.observe(waited)

    def given_back(self) -> None:
        self._in_use.dec()


def _pool_meter(database: str, lane: Lane, size: int) -> PoolMeter:
    return _PoolMeter(database, lane, size)


def watch_pools(engine: Engine) -> None:
    """Give each pool the engine opens from now on its gauges."""
    if isinstance(engine, PooledEngine):
        engine.meters = _pool_meter


def company_label(segment: str | None, metadata: Metadata | None) -> str:
    """The company label of a path's `{database}` segment: its number, `vbsys` or `Catalog` when it
    exists; `other` for anything else; empty for a path without one."""
    if segment is None:
        return ""
    if metadata is None:
        return OTHER
    number = company_number(segment)
    if number is not None:
        return str(number) if number in metadata.companies else OTHER
    lowered = segment.lower()
    for name in (metadata.system_database, metadata.catalog_database):
        if lowered == name.lower() and name in metadata.databases:
            return name
    return OTHER


class RequestMeter:
    """Counts answered requests; children of each label set kept, as the label sets are bounded."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int, str], MetricWrapperBase] = {}
        self._seconds: dict[tuple[str, str], Histogram] = {}
        self._writes: dict[str, MetricWrapperBase] = {}

    def record(self, route: str, method: str, status: int, company: str, seconds: float) -> None:
        if method not in _METHODS:
            method = OTHER
        key = (route, method, status, company)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = REQUESTS.labels(route, method, str(status), company)
        counter.inc()  # type: ignore[attr-defined]
        timing = self._seconds.get((route, method))
        if timing is None:
            timing = self._seconds[(route, method)] = REQUEST_SECONDS.labels(route, method)
        timing.observe(seconds)
        if route in WRITE_ROUTES and method in _WRITE_OUTCOMES:
            self._write(_WRITE_OUTCOMES[method] if status < 400 else f"{status // 100}xx")
        elif status == 429:  # only the failed-login throttle answers 429 (tests/test_metrics.py holds it to that)
            LOGIN_THROTTLED.inc()

    def _write(self, outcome: str) -> None:
        counter = self._writes.get(outcome)
        if counter is None:
            counter = self._writes[outcome] = WRITES.labels(outcome)
        counter.inc()  # type: ignore[attr-defined]


def _licence_days(keeper: LicenceKeeper) -> float:
    state = keeper.state
    if state.status == "unlicensed":
        return math.nan
    days = state.days_left()
    return 0.0 if days is None else max(days, 0.0)


def _exposition() -> bytes:
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _check_token(request: Request, token: str) -> None:
    """Raise unless the request carries `Authorization: Bearer <Metrics.Token>`."""
    header = request.headers.get("authorization")
    if header is None:
        raise AuthenticationRequired("/metrics needs Authorization: Bearer with Metrics.Token")
    scheme, _, value = header.partition(" ")
    supplied = value.strip().encode("utf-8", "replace")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(supplied, token.encode("ascii")):
        raise InvalidCredentials("/metrics needs Authorization: Bearer with Metrics.Token")


async def metrics_endpoint(request: Request) -> Response:
    """The metrics of every worker in Prometheus's text format, for those `Metrics` lets read them."""
    state: State = request.app.state.redhorn
    settings = state.settings.metrics
    if not settings.enabled:
        raise RouteNotFound(f"No route for {METRICS_PATH!r}")
    if not settings.public:
        _check_token(request, settings.token)
    LICENCE_DAYS_LEFT.set(_licence_days(state.licence))
    return Response(_exposition(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
