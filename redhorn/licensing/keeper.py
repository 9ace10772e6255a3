"""Keeping the licence valid: re-reading the file, and renewing it from the licence service.

One `LicenceKeeper` per process runs in the lifespan. Every `CheckIntervalSeconds` it re-reads the
licence file (so a file renewed by another worker, or replaced by hand, is picked up) and, when
the licence is within `RenewDaysBeforeExpiry` of its expiry or has expired, asks the licence
service at `LicenceServiceBaseUrl` for a new one:

    POST {base}/api/licences/renew   {"licence": "<the current licence>"}
    200 {"licence": "<a new licence>"}

The answer is verified with the issuer's key before anything is written: same licence id and
licensee, a later expiry. The file is replaced atomically (a temporary file in the same folder,
fsync, rename, and on POSIX an fsync of the folder), under a lock file (filelock: `flock` on POSIX,
`LockFileEx` on Windows) so that of several workers on one host only one renews; of several hosts
(`Cluster.RedisUrl`) one renews under a lease in Redis and the others take its licence (`lease.py`). Any failure
keeps the old file, is logged without the licence's text, and is retried with a doubling pause;
the API serves on until the old licence expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import httpx
import msgspec
from joserfc.jwk import OKPKey

from redhorn.errors import LicenceError, RenewalFailed
from redhorn.licensing.lease import LeaseUnavailable, RenewalLease
from redhorn.licensing.licence import Licence, LicenceState, read_licence, verify_licence
from redhorn.settings import ApiLicence

logger = logging.getLogger("redhorn.licence")


class RenewalRequest(msgspec.Struct, frozen=True):
    licence: str


class RenewalAnswer(msgspec.Struct, frozen=True):
    licence: str


class LicenceKeeper:
    """The current licence state of this process, and the task that keeps it fresh."""

    def __init__(
        self, path: Path | None, public_key: OKPKey | None, settings: ApiLicence, *, key_problem: str = ""
    ) -> None:
        """`key_problem`: why there is no `public_key` (a key file that cannot be read), said as the reason."""
        self.path = path
        self.public_key = public_key
        self.settings = settings
        self.key_problem = key_problem
        self.state: LicenceState = self._read()
        self._stamp = self._file_stamp()
        self.last_renewal_error = ""
        self._client: httpx.AsyncClient | None = None
        # Several hosts (`Cluster.RedisUrl`): who renews, and the licence another host renewed.
        self.lease: RenewalLease | None = None
        self._report()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_ino)

    def reload_if_changed(self) -> LicenceState:
        """Re-read the file if it was replaced since it was last read (a cheap `stat`)."""
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            previous, self.state = self.state, self._read()
            if (previous.status, previous.licence, previous.reason) != (
                self.state.status,
                self.state.licence,
                self.state.reason,
            ):
                self._report()  # once per change, not once per look
        return self.state

    def _read(self) -> LicenceState:
        state = read_licence(self.path, self.public_key)
        if self.key_problem and state.status == "invalid":
            state = LicenceState("invalid", reason=self.key_problem, since=state.since)
        return state

    def _report(self) -> None:
        """Log the licence just read. Without a valid one every data request is refused, so that is an
        error, with the reason and what to do; never the licence's text, which is the licensee's."""
        state = self.state
        if state.licence is not None:
            logger.info("Licence %s read; it expires %s", state.licence.id, state.licence.expiry_text())
        elif state.status == "invalid":
            logger.error(
                "No valid licence: %s; every data request answers 503 LicenceInvalid until a valid licence is at %s "
                "(ApiLicence.LicenceFilePath)",
                state.reason,
                self.path,
            )

    def due_for_renewal(self, now: float | None = None) -> bool:
        if self.path is None or not self.settings.licence_service_base_url:
            return False
        licence = self._licence_on_file()
        if licence is None:
            return False
        moment = time.time() if now is None else now
        return licence.expires - moment <= self.settings.renew_days_before_expiry * 86400

    def _licence_on_file(self) -> Licence | None:
        """The licence in the file if its signature verifies, expired or not (it may still be renewed)."""
        assert self.path is not None and self.public_key is not None
        try:
            return verify_licence(self.path.read_text(encoding="utf-8"), self.public_key, now=0)
        except (OSError, UnicodeDecodeError, LicenceError):
            return None

    async def check(self) -> None:
        """Re-read the file, and renew the licence if it is due."""
        self._stamp = None  # read it again whatever its stamp
        self.reload_if_changed()
        if self.lease is not None:
            await self.adopt_published()
        if self.due_for_renewal():
            await self.renew()

    async def renew(self) -> bool:
        """Ask the service for a new licence and put it in place; False when another worker or host renews.

        With a lease (`Cluster.RedisUrl`) one host at a time renews and hands the licence to the others.

        Raises:
            RenewalFailed: the service could not be reached, or answered with no usable licence.
        """
        lease = self.lease
        if lease is not None:
            try:
                if not await lease.acquire():
                    logger.info("Another host is renewing the licence; this host takes its licence afterwards")
                    return False
            except LeaseUnavailable as exc:
                logger.warning("Renewing the licence without the other hosts: %s", exc)
                lease = None
        try:
            if lease is not None and await self.adopt_published():
                return False  # renewed by another host while this one waited for the lease
            fresh_text = await self._renew_file()
            if fresh_text is not None and lease is not None:
                await lease.publish(fresh_text)
        finally:
            if lease is not None:
                await lease.release()
        return fresh_text is not None

    async def _renew_file(self) -> str | None:
        """Renew under the file lock; the new licence's text, or None when another worker holds the lock."""
        assert self.path is not None and self.public_key is not None
        with _exclusive(self.path.with_name(self.path.name + ".lock")) as locked:
            if not locked:
                return None
            current = self._licence_on_file()
            if current is None or not self.due_for_renewal():
                self.reload_if_changed()
                return None
            text = self.path.read_text(encoding="utf-8").strip()
            fresh_text = await self._ask_service(text)
            fresh = self._acceptable(fresh_text, current, "the service's licence")
            write_atomically(self.path, fresh_text + "\n")
        self.reload_if_changed()
        logger.info("Licence %s renewed; it now expires %s", fresh.id, fresh.expiry_text())
        return fresh_text

    def _acceptable(self, fresh_text: str, current: Licence, source: str) -> Licence:
        """The new licence, if it may replace `current`: valid, the same licence, expiring later.

        Raises:
            RenewalFailed: it may not.
        """
        assert self.public_key is not None
        try:
            fresh = verify_licence(fresh_text, self.public_key)
        except LicenceError as exc:
            raise RenewalFailed(f"{source} is not acceptable: {exc}") from None
        if fresh.id != current.id or fresh.licensee != current.licensee:
            raise RenewalFailed(f"{source} is a licence for someone else")
        if fresh.expires <= current.expires:
            raise RenewalFailed(f"{source} does not expire later than the current one")
        return fresh

    async def adopt_published(self) -> bool:
        """Take the licence another host renewed into this host's file, if it is newer; True if taken."""
        if self.lease is None or self.path is None or self.public_key is None:
            return False
        published = await self.lease.latest()
        current = self._licence_on_file()
        if published is None or current is None:
            return False
        try:
            fresh = self._acceptable(published.strip(), current, "another host's licence")
        except RenewalFailed:
            return False  # older than ours, or not ours: this host renews on its own when due
        with _exclusive(self.path.with_name(self.path.name + ".lock")) as locked:
            if not locked:
                return False
            write_atomically(self.path, published.strip() + "\n")
        self.reload_if_changed()
        logger.info("Licence %s renewed by another host; it now expires %s", fresh.id, fresh.expiry_text())
        return True

    async def _ask_service(self, text: str) -> str:
        url = self.settings.licence_service_base_url.rstrip("/") + "/api/licences/renew"
        client = self._http()
        try:
            response = await client.post(url, content=msgspec.json.encode(RenewalRequest(text)))
        except httpx.TimeoutException:
            raise RenewalFailed(f"the licence service at {url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RenewalFailed(f"the licence service at {url} cannot be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise RenewalFailed(f"the licence service answered {response.status_code}")
        try:
            return msgspec.json.decode(response.content, type=RenewalAnswer).licence
        except msgspec.DecodeError:
            raise RenewalFailed("the licence service's answer is not a licence") from None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            seconds = self.settings.request_timeout_seconds
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
                headers={"Content-Type": "application/json"},
            )
        return self._client

    async def run(self) -> None:
        """Check now and then forever: every `CheckIntervalSeconds`, sooner after a failure."""
        interval = self.settings.check_interval_seconds
        retry = self.settings.retry_seconds
        while True:
            try:
                await self.check()
                self.last_renewal_error = ""
                pause = interval
                retry = self.settings.retry_seconds
            except RenewalFailed as exc:
                self.last_renewal_error = str(exc)
                logger.warning("Licence renewal failed, retrying in %.0f s: %s", retry, exc)
                pause = retry
                retry = min(retry * 2, interval)
            await asyncio.sleep(pause)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


# How long a replace waits for another process to let go of the file (Windows only, see below).
REPLACE_RETRY_SECONDS = 2.0


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """A lock between processes on one host; yields False at once if another process holds it."""
    lock = filelock.FileLock(lock_path)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def write_atomically(path: Path, text: str, *, retry_seconds: float = REPLACE_RETRY_SECONDS) -> None:
    """Replace `path` with `text` so that readers see the old file or the new one, never a part."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        replace_when_free(Path(temporary), path, retry_seconds)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_folder(path.parent)


def replace_when_free(source: Path, target: Path, retry_seconds: float) -> None:
    """`os.replace`, retried for up to `retry_seconds` while another process holds `target` open.

    On Windows a file that another process has open (a worker reading the licence, a virus
    scanner) cannot be replaced: the call fails with a sharing violation, a PermissionError, and
    succeeds a moment later. POSIX never refuses this way, so there the first try is the only one.
    """
    deadline = time.monotonic() + retry_seconds
    pause = 0.01
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable. POSIX only: Windows cannot open a folder as a file, and
    NTFS journals the rename itself."""
    if sys.platform == "win32":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
