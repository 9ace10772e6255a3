"""`redhorn pull`: its options, and the run they describe, with exit codes 0 (all done), 1 (some failed), 2 (usage).

The rest of the client (httpx, rich) is imported when the command runs, not when `redhorn` builds its
parser, so that `redhorn serve` does not load it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from redhorn.client.errors import PullError, UsageError
from redhorn.client.writers import FORMATS

if TYPE_CHECKING:
    from redhorn.client.progress import Reporter
    from redhorn.client.pull import Outcome, PullOptions
    from redhorn.client.session import Credentials

DESCRIPTION = """\
Pull whole resources of a redhorn server, page by page, into NDJSON, CSV or Parquet files (one per
resource, in --out), or keep a SQLite or DuckDB mirror in sync (--mirror). An interrupted pull goes
on from its last page when the same command runs again (the state is in --state, or in the mirror).
"""
EPILOG = """\
examples:
  REDHORN_PASSWORD=... redhorn pull --url https://127.0.0.1:8443 --user demo --password-env REDHORN_PASSWORD \\
      --ca-file config/dev-cert.pem --company 9999 --format parquet --out warehouse orders orderlines
  redhorn pull ... --mirror warehouse.duckdb orders orderlines associates

exit codes: 0 every resource done, 1 some failed (one line each on stderr), 2 usage error
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `redhorn pull`, on its subparser."""
    parser.add_argument("resources", nargs="+", metavar="RESOURCE", help="resources to pull, e.g. orders orderlines")
    server = parser.add_argument_group("server and login")
    server.add_argument("--url", required=True, help="the server, e.g. https://host:8443")
    server.add_argument("--user", required=True, help="an API user of the server")
    server.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from environment variable VAR (else it is prompted for)",
    )
    server.add_argument("--company", required=True, help="company number (or vbsys, catalog), e.g. 9999")
    tls = server.add_mutually_exclusive_group()
    tls.add_argument(
        "--ca-file", help="trust the server's certificate from this PEM file (the development certificate)"
    )
    tls.add_argument("--insecure", action="store_true", help="do not check the server's certificate at all")
    query = parser.add_argument_group("what to pull")
    query.add_argument("--filter", help='an OData $filter, passed through, e.g. "OrderDate ge 20260101"')
    query.add_argument("--select", help="an OData $select, passed through, e.g. OrderNo,CustomerNo,Name")
    query.add_argument(
        "--page-size", type=int, default=1000, help="rows a page (Prefer: odata.maxpagesize; default 1000)"
    )
    query.add_argument("--parallel", type=int, default=4, help="resources pulled at once (default 4)")
    output = parser.add_argument_group("where to")
    output.add_argument("--out", default=".", help="folder of the files, <resource>.<format> (default: .)")
    output.add_argument("--format", choices=FORMATS, default="ndjson", help="file format (default ndjson)")
    output.add_argument("--separator", default=",", help="CSV field separator (default ,), e.g. ';'")
    output.add_argument("--state", help="resume file (default: OUT/redhorn-pull-state.json)")
    output.add_argument(
        "--mirror",
        metavar="FILE",
        help="keep FILE.sqlite/.db (SQLite) or FILE.duckdb in sync instead of writing files: changes only, "
        "by delta links, after the first copy",
    )
    output.add_argument("--fresh", action="store_true", help="start every resource over, ignoring saved state")
    output.add_argument("--quiet", action="store_true", help="no progress bars: one line per resource")


def options_of(args: argparse.Namespace) -> PullOptions:
    from redhorn.client.pull import PullOptions

    return PullOptions(
        out=Path(args.out),
        format=args.format,
        separator=args.separator,
        filter=args.filter,
        select=args.select,
        page_size=args.page_size,
        parallel=args.parallel,
        state=Path(args.state) if args.state else None,
        mirror=Path(args.mirror) if args.mirror else None,
        fresh=args.fresh,
    )


def password_of(args: argparse.Namespace) -> str:
    """The password from `--password-env`, or from the terminal.

    Raises:
        UsageError: the variable is unset or empty, or there is no terminal to ask on.
    """
    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise UsageError(f"--password-env {args.password_env}: the variable is not set or empty")
        return password
    if not sys.stdin.isatty():
        raise UsageError("give the password in an environment variable named by --password-env (no terminal to ask)")
    return getpass.getpass(f"Password for {args.user}: ")


def command_pull(args: argparse.Namespace) -> int:
    """Run `redhorn pull`; every failure is one line on stderr."""
    from redhorn.client.progress import reporter_for
    from redhorn.client.session import Credentials, tls_verification

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the summary
    try:
        credentials = Credentials(args.url, args.user, password_of(args), company=str(args.company))
        options = options_of(args)
        verify = tls_verification(insecure=args.insecure, ca_file=args.ca_file)
    except (UsageError, OSError) as exc:
        print(f"redhorn pull: {exc}", file=sys.stderr)
        return 2
    reporter = reporter_for(quiet=args.quiet)
    try:
        outcomes = asyncio.run(_run(credentials, args.resources, options, verify, reporter))
    except UsageError as exc:
        print(f"redhorn pull: {exc}", file=sys.stderr)
        return 2
    except PullError as exc:
        print(f"redhorn pull: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("redhorn pull: interrupted; run the same command again to go on from the last page", file=sys.stderr)
        return 1
    finally:
        reporter.close()
    return 0 if all(outcome.ok for outcome in outcomes) else 1


async def _run(
    credentials: Credentials,
    resources: list[str],
    options: PullOptions,
    verify: ssl.SSLContext | bool,
    reporter: Reporter,
) -> list[Outcome]:
    from redhorn.client.run import pull_async
    from redhorn.client.session import Session

    async with Session(credentials, verify=verify) as session:
        return await pull_async(session, resources, options, reporter)
