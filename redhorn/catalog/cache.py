"""The metadata that requests read, and how it follows the databases while redhorn runs.

A database that could not be crawled at startup (down, or its file missing) is left out of the
metadata and its requests answer 503. Such a request, or `/health`, schedules a crawl of the
missing databases in the background, at most once every `RETRY_SECONDS`. And every
`Query.SchemaCheckSeconds` a background task reads each database's schema version (one cheap
query) and crawls again the databases whose schema changed, so a Data Model Extension installed
while redhorn runs is served without a restart.

New metadata replaces the old in one assignment and `generation` counts the replacements (caches
of plans key on it); nothing else ever changes the metadata, so readers need no lock.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redhorn.catalog.crawler import crawl, read_schema_version
from redhorn.catalog.dictionary import Dictionary
from redhorn.engines.base import Engine
from redhorn.errors import DatabaseUnavailable, QueryTimeout
from redhorn.metadata import Metadata

logger = logging.getLogger("redhorn.crawler")

RETRY_SECONDS = 5.0


class MetadataCache:
    def __init__(self, metadata: Metadata, engine: Engine, dictionary: Dictionary) -> None:
        self.current = metadata
        self._engine = engine
        self._dictionary = dictionary
        self._task: asyncio.Task[None] | None = None
        self._last_attempt = time.monotonic()
        self._lock = asyncio.Lock()
        self.generation = 0

    def is_complete(self) -> bool:
        """Whether every database of the installation is in the metadata."""
        metadata = self.current
        expected = {metadata.system_database, metadata.catalog_database}
        expected |= {company.database for company in metadata.companies.values()}
        return expected <= metadata.databases.keys()

    def schedule_recrawl(self) -> asyncio.Task[None] | None:
        """Crawl the missing databases in the background, unless a crawl ran in the last few seconds."""
        if self.is_complete() or (self._task is not None and not self._task.done()):
            return self._task
        now = time.monotonic()
        if now - self._last_attempt < RETRY_SECONDS:
            return None
        self._last_attempt = now
        self._task = asyncio.get_running_loop().create_task(self._recrawl())
        return self._task

    async def _recrawl(self) -> None:
        try:
            await self.refresh(check_versions=False)
        except Exception:  # the next request schedules another try
            logger.exception("Crawling the missing databases failed")

    async def refresh(self, *, check_versions: bool = True) -> bool:
        """Crawl the missing databases, and those whose schema version changed; True if anything changed."""
        async with self._lock:
            current = self.current
            changed: set[str] = set()
            if check_versions:
                names = list(current.databases)
                versions = await asyncio.gather(
                    *(read_schema_version(self._engine, name) for name in names), return_exceptions=True
                )
                for name, version in zip(names, versions, strict=True):
                    if isinstance(version, DatabaseUnavailable | QueryTimeout):
                        continue
                    if isinstance(version, BaseException):
                        raise version
                    if version != current.databases[name].schema_version:
                        changed.add(name)
                        logger.info("The schema of %r changed; reading its catalog again", name)
            if not changed and self.is_complete():
                return False
            kept = {name: database for name, database in current.databases.items() if name not in changed}
            previous = Metadata(kept, current.companies, current.system_database, current.catalog_database)
            fresh = await crawl(self._engine, self._dictionary, previous=previous)
            if fresh.databases.keys() == current.databases.keys() and not changed:
                return False
            self.current = fresh
            self.generation += 1
            return True

    async def run(self, interval: float) -> None:
        """Check the schema versions every `interval` seconds, forever."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception:
                logger.exception("Checking the databases' schemas failed")
