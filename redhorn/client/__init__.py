"""redhorn's client: pull whole resources of a redhorn server into files or a mirror database.

It imports nothing of the server: only httpx, msgspec, rich and the standard library, and pyarrow
and duckdb (the `pull` extra) when Parquet or a DuckDB mirror is asked for.

    from pathlib import Path
    from redhorn.client import Credentials, PullOptions, pull, tls_verification

    credentials = Credentials("https://127.0.0.1:8443", "demo", os.environ["REDHORN_PASSWORD"], company="9999")
    outcomes = pull(credentials, ["orders", "orderlines"], PullOptions(out=Path("warehouse"), format="parquet"),
                    verify=tls_verification(ca_file="config/dev-cert.pem"))
"""

from __future__ import annotations

from redhorn.client.errors import ConnectionFailed, LoginError, PullError, ServerError, UsageError
from redhorn.client.pages import Page, fetch_page, first_page_params
from redhorn.client.progress import BarReporter, QuietReporter, Reporter
from redhorn.client.pull import Outcome, PullOptions
from redhorn.client.retry import RetryPolicy
from redhorn.client.run import pull, pull_async
from redhorn.client.session import Credentials, Session, tls_verification

__all__ = [
    "BarReporter",
    "ConnectionFailed",
    "Credentials",
    "LoginError",
    "Outcome",
    "Page",
    "PullError",
    "PullOptions",
    "QuietReporter",
    "Reporter",
    "RetryPolicy",
    "ServerError",
    "Session",
    "UsageError",
    "fetch_page",
    "first_page_params",
    "pull",
    "pull_async",
    "tls_verification",
]
