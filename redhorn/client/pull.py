"""One resource pulled into one file, page by page, each page committed to the resume file once written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from redhorn.client.pages import fetch_page, first_page_params
from redhorn.client.progress import Reporter
from redhorn.client.session import Session
from redhorn.client.state import ResourceState, StateFile
from redhorn.client.writers import open_writer

PageHook = Callable[[str, int], None]
"""Called with the resource and the page's number (from 1) after each committed page."""


@dataclass(frozen=True)
class PullOptions:
    """What to pull and where to; the command line's options, for use from Python."""

    out: Path = Path(".")
    format: str = "ndjson"
    separator: str = ","
    filter: str | None = None
    select: str | None = None
    page_size: int = 1000
    parallel: int = 4
    state: Path | None = None
    mirror: Path | None = None
    fresh: bool = False
    on_page: PageHook | None = field(default=None, compare=False)

    @property
    def state_file(self) -> Path:
        """`--state`, else beside the output."""
        return self.state or self.out / "redhorn-pull-state.json"


@dataclass(frozen=True)
class Outcome:
    """How one resource's pull ended: `ok`, the rows it holds, and one line saying so."""

    resource: str
    ok: bool
    rows: int
    message: str


def query_of(options: PullOptions, company: str) -> str:
    """What a resume must match: a saved state of another query, format or company is started over."""
    parts = {
        "company": company,
        "format": options.format,
        "separator": options.separator if options.format == "csv" else None,
        "filter": options.filter,
        "select": options.select,
    }
    return msgspec.json.encode(parts).decode("utf-8")


async def pull_to_file(
    session: Session, resource: str, options: PullOptions, state: StateFile, reporter: Reporter
) -> Outcome:
    """Pull every page of `resource` into `out/<resource>.<ext>`, going on from the resume file's state."""
    query = query_of(options, session.credentials.company)
    saved = state.get(resource)
    writer = open_writer(options.format, options.out, resource, options.separator)
    resuming = saved is not None and saved.query == query and saved.phase != "done" and not options.fresh
    if not resuming or saved is None:
        saved = ResourceState(query=query)
    elif saved.rows:
        reporter.note(resource, f"resuming after {saved.rows:,} rows")
    writer.columns = saved.columns
    url: str | None = saved.next_link or session.api_url(resource)
    params = None if saved.next_link else first_page_params(options.filter, options.select)
    if saved.phase == "fetched":
        url = None
    writer.start(saved.bytes)
    try:
        reporter.start(resource, saved.count, saved.rows)
        number = 0
        while url:
            page = await fetch_page(session, url, page_size=options.page_size, params=params)
            length = writer.write(page.rows)
            number += 1
            count = page.count if page.count is not None else saved.count
            saved = msgspec.structs.replace(
                saved,
                phase="paging" if page.next_link else "fetched",
                next_link=page.next_link,
                rows=saved.rows + len(page.rows),
                bytes=length,
                count=count,
                columns=writer.columns,
            )
            state.put(resource, saved)
            reporter.advance(resource, len(page.rows), count)
            if options.on_page:
                options.on_page(resource, number)
            url, params = page.next_link, None
        writer.finish()
    finally:
        writer.close()
    state.put(resource, msgspec.structs.replace(saved, phase="done", next_link=None))
    return Outcome(resource, True, saved.rows, f"{saved.rows:,} rows to {writer.path}")
