"""The metadata cache follows the databases while redhorn runs, and a failure while it does so
never loses what it knows: a database that cannot tell its schema version is kept as it was, a
crawl that finds nothing new changes nothing, and an unexpected failure in the background is
logged and tried again rather than ending the checks."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.catalog import cache as cache_module
from redhorn.catalog.cache import MetadataCache
from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import Dictionary, load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import DatabaseUnavailable, QueryTimeout
from redhorn.metadata import Metadata
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement


class FailingEngine:
    """The embedded engine, except that statements on the databases named in `failures` raise."""

    def __init__(self, folder: Path) -> None:
        self.inner = SqliteEngine(folder)
        self.failures: dict[str, BaseException] = {}
        self.calls: list[str] = []

    @property
    def dialect(self) -> Dialect:
        return self.inner.dialect

    async def fetch(self, database: str, statement: Statement, **options: Any) -> list[tuple[Any, ...]]:
        self.calls.append(database)
        failure = self.failures.get(database)
        if failure is not None:
            raise failure
        return await self.inner.fetch(database, statement, **options)

    async def ping(self, database: str) -> None:
        await self.inner.ping(database)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary()


@pytest.fixture
async def engine(demo_folder: Path) -> AsyncIterator[FailingEngine]:
    created = FailingEngine(demo_folder)
    yield created
    await created.close()


@pytest.fixture(scope="module")
async def demo_metadata(demo_folder: Path, dictionary: Dictionary) -> Metadata:
    engine = SqliteEngine(demo_folder)
    try:
        return await crawl(engine, dictionary)
    finally:
        await engine.close()


@pytest.fixture
def complete_cache(engine: FailingEngine, dictionary: Dictionary, demo_metadata: Metadata) -> MetadataCache:
    cache = MetadataCache(demo_metadata, engine, dictionary)
    assert cache.is_complete()
    return cache


@pytest.mark.parametrize("failure", [DatabaseUnavailable("down"), QueryTimeout("slow")], ids=["down", "slow"])
async def test_a_database_that_cannot_tell_its_version_is_kept_as_it_was(
    engine: FailingEngine, complete_cache: MetadataCache, failure: Exception
):
    cache = complete_cache
    before = cache.current
    engine.failures["F0001"] = failure
    assert await cache.refresh() is False
    assert cache.current is before and cache.generation == 0
    assert "F0001" in cache.current.databases


async def test_an_unexpected_failure_of_the_version_check_is_raised(
    engine: FailingEngine, complete_cache: MetadataCache
):
    cache = complete_cache
    engine.failures["F0001"] = RuntimeError("a bug, not an outage")
    with pytest.raises(RuntimeError, match="a bug, not an outage"):
        await cache.refresh()
    assert cache.generation == 0


async def test_the_background_check_logs_a_failure_and_goes_on_checking(
    engine: FailingEngine, complete_cache: MetadataCache, caplog: pytest.LogCaptureFixture
):
    cache = complete_cache
    engine.failures["vbsys"] = RuntimeError("a bug, not an outage")
    task = asyncio.get_running_loop().create_task(cache.run(0.01))
    try:
        with caplog.at_level(logging.ERROR, logger="redhorn.crawler"):
            for _ in range(200):
                await asyncio.sleep(0.01)
                failures = [r for r in caplog.records if r.getMessage() == "Checking the databases' schemas failed"]
                if len(failures) >= 2:
                    break
        assert len(failures) >= 2, "the checks went on after the first failure"
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
def folder_without_company(demo_folder: Path, tmp_path: Path) -> Path:
    for name in ("vbsys.db", "Catalog.db", "F0001.db"):
        shutil.copy(demo_folder / name, tmp_path / name)
    return tmp_path


async def test_a_crawl_that_finds_nothing_new_changes_nothing(folder_without_company: Path, dictionary: Dictionary):
    engine = FailingEngine(folder_without_company)
    try:
        cache = MetadataCache(await crawl(engine, dictionary), engine, dictionary)
        assert not cache.is_complete() and "F9999" not in cache.current.databases
        before = cache.current
        assert await cache.refresh(check_versions=False) is False
        assert cache.current is before and cache.generation == 0
    finally:
        await engine.close()


async def test_a_failed_background_crawl_is_logged_and_tried_again_later(
    folder_without_company: Path,
    demo_folder: Path,
    dictionary: Dictionary,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    engine = FailingEngine(folder_without_company)
    try:
        cache = MetadataCache(await crawl(engine, dictionary), engine, dictionary)
        assert cache.schedule_recrawl() is None, "no second crawl within seconds of the first"
        monkeypatch.setattr(cache_module, "RETRY_SECONDS", 0.0)
        engine.failures["F9999"] = RuntimeError("a bug, not an outage")
        with caplog.at_level(logging.ERROR, logger="redhorn.crawler"):
            task = cache.schedule_recrawl()
            assert task is not None
            await task
        assert "Crawling the missing databases failed" in caplog.text
        assert not cache.is_complete() and cache.generation == 0
        del engine.failures["F9999"]
        shutil.copy(demo_folder / "F9999.db", folder_without_company / "F9999.db")
        task = cache.schedule_recrawl()
        assert task is not None
        await task
        assert cache.is_complete() and cache.generation == 1, "the next try found the database"
        crawls = len(engine.calls)
        assert cache.schedule_recrawl() is task, "a complete cache starts no crawl"
        assert len(engine.calls) == crawls
    finally:
        await engine.close()
