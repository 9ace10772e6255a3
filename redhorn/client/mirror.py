"""One resource kept in sync in a mirror database: a full copy first, then only the changes, by delta links.

A full copy asks the server to track changes (`Prefer: odata.track-changes`); the last page's
`@odata.deltaLink`, stored with the copy, later answers what changed since: changed and added rows
are upserted by the resource's key, removed ones deleted. A resource the server cannot track (no
delta link) is copied fully on every run; an expired delta link (410) starts a full copy over.
"""

from __future__ import annotations

import msgspec

from redhorn.client.errors import ServerError
from redhorn.client.pages import Page, fetch_page, first_page_params
from redhorn.client.progress import Reporter
from redhorn.client.pull import Outcome, PullOptions
from redhorn.client.session import Session
from redhorn.client.stores import Store, SyncState, loading_table

GONE = 410
UNTRACKED = "the server cannot track its changes, so it is copied fully on each run"


def mirror_query(options: PullOptions, company: str) -> str:
    """What a mirror's state belongs to: another company, filter or selection starts a new copy."""
    return msgspec.json.encode({"company": company, "filter": options.filter, "select": options.select}).decode()


def with_keys(select: str | None, keys: list[str]) -> str | None:
    """`$select` with the key added when it leaves any out: a mirror matches changes by key."""
    if not select:
        return select
    chosen = [name.strip() for name in select.split(",") if name.strip()]
    lowered = {name.lower() for name in chosen}
    return ",".join([*chosen, *(key for key in keys if key.lower() not in lowered)])


class ResourceMirror:
    """The sync of one resource into `store`, from where its state says it stands."""

    def __init__(
        self, session: Session, store: Store, resource: str, keys: list[str], options: PullOptions, reporter: Reporter
    ) -> None:
        self.session = session
        self.store = store
        self.resource = resource
        self.keys = keys
        self.options = options
        self.reporter = reporter
        self.query = mirror_query(options, session.credentials.company)
        self.pages = 0

    async def run(self) -> Outcome:
        state = None if self.options.fresh else self.store.sync_of(self.resource)
        if state is not None and state.query != self.query:
            state = None
        if state is not None and state.phase == "copying" and state.link and self.store.exists(self._loading):
            self.reporter.note(self.resource, f"resuming the copy after {state.rows:,} rows")
            return await self._copy(state.link, state.rows)
        link = state.link if state is not None and state.phase == "delta" else None
        if state is not None and state.phase == "synced":
            link = state.delta_link
        if link and self.keys and self.store.exists(self.resource):
            try:
                return await self._apply_changes(link)
            except ServerError as exc:
                if exc.status != GONE:
                    raise
                self.reporter.note(self.resource, f"the delta link expired ({exc.code}); copying it fully again")
        return await self._copy(None, 0)

    @property
    def _loading(self) -> str:
        return loading_table(self.resource)

    async def _copy(self, link: str | None, rows: int) -> Outcome:
        if link is None:
            with self.store.transaction():
                self.store.drop(self._loading)
        url = link or self.session.api_url(self.resource)
        params = None if link else first_page_params(self.options.filter, with_keys(self.options.select, self.keys))
        self.reporter.start(self.resource, None, rows)
        while True:
            page = await fetch_page(
                self.session, url, page_size=self.options.page_size, params=params, track_changes=bool(self.keys)
            )
            rows += len(page.rows)
            with self.store.transaction():
                self._load(page)
                self.store.set_sync(self.resource, self._after_copy_page(page, rows))
            self._committed(page)
            if page.next_link is None:
                break
            url, params = page.next_link, None
        message = f"{rows:,} rows copied to {self.options.mirror}"
        state = self.store.sync_of(self.resource)
        if state is None or state.delta_link is None:
            message += f"; {UNTRACKED}"
        return Outcome(self.resource, True, rows, message)

    def _load(self, page: Page) -> None:
        if self.store.exists(self._loading):
            self.store.fit(self._loading, page.rows)
        else:
            self.store.create(self._loading, page.rows, self.keys)
        self.store.insert(self._loading, page.rows, self.keys, replace=False)
        if page.next_link is None:
            self.store.replace(self.resource)

    def _after_copy_page(self, page: Page, rows: int) -> SyncState:
        if page.next_link:
            return SyncState(query=self.query, phase="copying", link=page.next_link, rows=rows, keys=self.keys)
        return SyncState(query=self.query, phase="synced", delta_link=page.delta_link, rows=rows, keys=self.keys)

    async def _apply_changes(self, link: str) -> Outcome:
        self.reporter.start(self.resource, None, 0)
        changed = removed = 0
        warned = False
        url: str | None = link
        while url:
            page = await fetch_page(self.session, url, page_size=self.options.page_size)
            if page.deletions_tracked is False and not warned:
                self.reporter.note(self.resource, "the server does not report its deletions: deleted rows stay here")
                warned = True
            with self.store.transaction():
                self.store.fit(self.resource, page.changed)
                self.store.delete(self.resource, page.removed, self.keys)
                self.store.insert(self.resource, page.changed, self.keys, replace=True)
                self.store.set_sync(self.resource, self._after_delta_page(page))
            changed += len(page.changed)
            removed += len(page.removed)
            self._committed(page)
            url = page.next_link
        message = f"{changed:,} rows changed or added, {removed:,} deleted (delta) in {self.options.mirror}"
        if self.store.sync_of(self.resource) is not None and self._delta_link_lost():
            message += f"; no new delta link: {UNTRACKED}"
        return Outcome(self.resource, True, changed + removed, message)

    def _after_delta_page(self, page: Page) -> SyncState:
        if page.next_link:
            return SyncState(query=self.query, phase="delta", link=page.next_link, keys=self.keys)
        return SyncState(query=self.query, phase="synced", delta_link=page.delta_link, keys=self.keys)

    def _delta_link_lost(self) -> bool:
        state = self.store.sync_of(self.resource)
        return state is None or state.delta_link is None

    def _committed(self, page: Page) -> None:
        self.pages += 1
        self.reporter.advance(self.resource, len(page.rows), page.count)
        if self.options.on_page:
            self.options.on_page(self.resource, self.pages)
