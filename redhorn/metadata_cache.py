"""The metadata that requests read, and how databases that were away come back into it.

A database that could not be crawled at startup (down, or its file missing) is left out of the
metadata and its requests answer 503. Such a request, or `/health`, schedules a crawl of the
missing databases in the background, at most once every `RETRY_SECONDS`; when it finds them, the
new metadata replaces the old in one assignment, and requests see it from then on. Nothing else
ever changes the metadata, so readers need no lock.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redhorn.crawler import crawl
from redhorn.dictionary import Dictionary
from redhorn.engines.base import Engine
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
            self.current = await crawl(self._engine, self._dictionary, previous=self.current)
        except Exception:  # the next request schedules another try
            logger.exception("Crawling the missing databases failed")
