"""What every request needs, built once in the lifespan and hung off `app.state.redhorn`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from redhorn.catalog.cache import MetadataCache
from redhorn.engines.base import Engine
from redhorn.licensing.keeper import LicenceKeeper
from redhorn.metadata import Metadata
from redhorn.odata.parser import QueryLimits
from redhorn.query.prepared import PreparedCache
from redhorn.settings import Settings
from redhorn.writers.executor import Writer
from redhorn.writers.idempotency import IdempotencyRecords


@dataclass(frozen=True)
class State:
    settings: Settings
    root: Path
    engine: Engine
    metadata_cache: MetadataCache
    limits: QueryLimits
    page_token_key: bytes
    licence: LicenceKeeper
    writer: Writer
    # The SQLite file of the host, or Redis shared by every host (`Cluster.RedisUrl`).
    idempotency: IdempotencyRecords
    prepared: PreparedCache = field(default_factory=PreparedCache)

    @property
    def metadata(self) -> Metadata:
        """The metadata as of now; a later crawl may replace it, never change it."""
        return self.metadata_cache.current
