"""Several resources pulled at once, at most `parallel` at a time, into files or a mirror.

Each resource succeeds or fails alone: a failure is one line, and the others go on.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

from redhorn.client.errors import PullError, ServerError, UsageError
from redhorn.client.mirror import ResourceMirror
from redhorn.client.progress import QuietReporter, Reporter
from redhorn.client.pull import Outcome, PullOptions, pull_to_file
from redhorn.client.session import Credentials, Session
from redhorn.client.state import StateFile
from redhorn.client.stores import Store, open_store
from redhorn.client.writers import FORMATS


def check_options(options: PullOptions) -> None:
    """Raises: UsageError naming the option that cannot work."""
    if options.format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {options.format!r}")
    if options.page_size < 1:
        raise UsageError("--page-size must be at least 1")
    if options.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    if options.format == "parquet" and not options.mirror:
        from redhorn.client.parquet import require_pyarrow

        require_pyarrow()


async def resource_keys(session: Session) -> dict[str, tuple[str, list[str]]]:
    """Each resource of the company by its lower-case name: its name and key, from `GET /api/{company}`."""
    answer = await session.get(session.api_url())
    listing = answer.body.get("value") if isinstance(answer.body, dict) else None
    if not isinstance(listing, list):
        raise ServerError(200, "NotAListing", f"{session.api_url()} lists no resources")
    return {
        str(entry["name"]).lower(): (str(entry["name"]), [str(key) for key in entry.get("key") or []])
        for entry in listing
        if isinstance(entry, dict) and "name" in entry
    }


async def pull_async(
    session: Session, resources: Sequence[str], options: PullOptions, reporter: Reporter | None = None
) -> list[Outcome]:
    """Pull `resources` as `options` say; one Outcome per resource, in the order given.

    Raises:
        UsageError: an option cannot work.
        LoginError: the credentials were refused (checked once, before any resource).
    """
    check_options(options)
    reporter = reporter or QuietReporter()
    await session.token()
    store = open_store(options.mirror) if options.mirror else None
    try:
        keys = await resource_keys(session) if store else {}
        state = None if store else StateFile(options.state_file)
        bound = asyncio.Semaphore(options.parallel)

        async def one(resource: str) -> Outcome:
            async with bound:
                try:
                    if store is not None:
                        outcome = await _mirror_one(session, store, keys, resource, options, reporter)
                    else:
                        assert state is not None
                        outcome = await pull_to_file(session, resource, options, state, reporter)
                except (PullError, OSError) as exc:
                    reporter.fail(resource, str(exc))
                    return Outcome(resource, False, 0, str(exc))
                reporter.finish(resource, outcome.message)
                return outcome

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(resource)) for resource in dict.fromkeys(resources)]
    finally:
        if store is not None:
            store.close()
    return [task.result() for task in tasks]


async def _mirror_one(
    session: Session,
    store: Store,
    keys: dict[str, tuple[str, list[str]]],
    resource: str,
    options: PullOptions,
    reporter: Reporter,
) -> Outcome:
    found = keys.get(resource.lower())
    if found is None:
        raise ServerError(
            404, "ResourceNotFound", f"company {session.credentials.company} has no resource {resource!r}"
        )
    name, key = found
    return await ResourceMirror(session, store, name, key, options, reporter).run()


def pull(
    credentials: Credentials,
    resources: Sequence[str],
    options: PullOptions | None = None,
    *,
    verify: ssl.SSLContext | bool = True,
    reporter: Reporter | None = None,
) -> list[Outcome]:
    """`pull_async` for a script that is not async: logs in, pulls, logs out."""

    async def running() -> list[Outcome]:
        async with Session(credentials, verify=verify) as session:
            return await pull_async(session, resources, options or PullOptions(), reporter)

    return asyncio.run(running())
