"""The keeper trusts the licence service no further than the issuer's key: a renewal is written only
if it is the same licence, for the same licensee, lasting longer; otherwise the old file stays.
Only one worker renews at a time, and a file is replaced whole or not at all."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace

import filelock
import httpx
import pytest

from redhorn.errors import RenewalFailed
from redhorn.licensing import keeper as keeper_module
from redhorn.licensing.keeper import LicenceKeeper, replace_when_free, write_atomically
from redhorn.licensing.licence import generate_key, issue_licence, load_private_key, load_public_key, verify_licence
from redhorn.settings import ApiLicence

PRIVATE, PUBLIC = generate_key()
SIGNER, VERIFIER = load_private_key(PRIVATE), load_public_key(PUBLIC)
SERVICE = "http://licences.test"
Answer = Callable[[str], httpx.Response]


@pytest.fixture
def licence_file(tmp_path: Path) -> Path:
    path = tmp_path / "redhorn.lic"
    path.write_text(issue_licence(SIGNER, "ACME", days=10, licence_id="L-1") + "\n")
    return path


@pytest.fixture
async def keeper(licence_file: Path) -> AsyncIterator[LicenceKeeper]:
    settings = ApiLicence(
        licence_file_path=str(licence_file), licence_service_base_url=SERVICE, renew_days_before_expiry=30
    )
    made = LicenceKeeper(licence_file, VERIFIER, settings)
    yield made
    await made.close()


def serve(keeper: LicenceKeeper, answer: Answer) -> list[str]:
    """The service `answer`s each renewal request with the licence it was given; returns those licences."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url == f"{SERVICE}/api/licences/renew"
        licence = httpx.Response(200, content=request.content).json()["licence"]
        asked.append(licence)
        return answer(licence)

    keeper._client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return asked


def renewed(days: float, *, licence_id: str = "L-1", licensee: str = "ACME", signer=SIGNER) -> Answer:
    return lambda _: httpx.Response(
        200, json={"licence": issue_licence(signer, licensee, days=days, licence_id=licence_id)}
    )


async def test_a_longer_licence_from_the_service_replaces_the_file(keeper: LicenceKeeper, licence_file: Path):
    asked = serve(keeper, renewed(365))
    assert await keeper.renew() is True
    assert [verify_licence(text, VERIFIER).id for text in asked] == ["L-1"]
    assert verify_licence(licence_file.read_text(), VERIFIER).expires > time.time() + 300 * 86400
    assert keeper.state.status == "valid" and keeper.state.days_left() > 300  # type: ignore[operator]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(renewed(365, licence_id="L-2"), "a licence for someone else", id="another-licence"),
        pytest.param(renewed(365, licensee="Someone Else"), "a licence for someone else", id="another-licensee"),
        pytest.param(renewed(5), "does not expire later than the current one", id="shorter"),
        pytest.param(
            renewed(365, signer=load_private_key(generate_key()[0])),
            "the service's licence is not acceptable",
            id="forged",
        ),
        pytest.param(lambda _: httpx.Response(503, text="down"), "the licence service answered 503", id="status"),
        pytest.param(lambda _: httpx.Response(200, text="<html>"), "answer is not a licence", id="not-json"),
    ],
)
async def test_an_unacceptable_answer_keeps_the_old_licence(
    keeper: LicenceKeeper, licence_file: Path, answer: Answer, reason: str
):
    before = licence_file.read_text()
    serve(keeper, answer)
    with pytest.raises(RenewalFailed, match=reason):
        await keeper.renew()
    assert licence_file.read_text() == before
    assert [path.name for path in licence_file.parent.iterdir() if not path.name.endswith(".lock")] == ["redhorn.lic"]


async def test_a_licence_not_yet_due_is_not_sent_to_the_service(tmp_path: Path):
    path = tmp_path / "redhorn.lic"
    path.write_text(issue_licence(SIGNER, "ACME", days=200))
    settings = ApiLicence(licence_file_path=str(path), licence_service_base_url=SERVICE, renew_days_before_expiry=30)
    keeper = LicenceKeeper(path, VERIFIER, settings)
    try:
        asked = serve(keeper, renewed(365))
        assert await keeper.renew() is False
        assert asked == []
    finally:
        await keeper.close()


async def test_only_one_worker_renews_while_another_holds_the_lock(keeper: LicenceKeeper, licence_file: Path):
    asked = serve(keeper, renewed(365))
    other_worker = filelock.FileLock(licence_file.with_name("redhorn.lic.lock"))
    other_worker.acquire(blocking=False)
    try:
        assert await keeper.renew() is False
    finally:
        other_worker.release()
    assert asked == []
    assert await keeper.renew() is True, "once the lock is free the renewal goes ahead"


async def test_a_failed_renewal_is_retried_sooner_and_logged(
    keeper: LicenceKeeper, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    serve(keeper, lambda _: httpx.Response(500))
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            raise RuntimeError("enough")

    monkeypatch.setattr(keeper_module, "asyncio", SimpleNamespace(sleep=sleep))
    with caplog.at_level(logging.WARNING, logger="redhorn.licence"), pytest.raises(RuntimeError, match="enough"):
        await keeper.run()
    assert pauses == [60.0, 120.0, 240.0], "the pause doubles after each failure"
    assert keeper.last_renewal_error == "the licence service answered 500"
    assert "Licence renewal failed, retrying in 60 s: the licence service answered 500" in caplog.text


def test_a_key_that_could_not_be_read_is_the_reason_given(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "redhorn.lic"
    path.write_text(issue_licence(SIGNER, "ACME", days=10))
    with caplog.at_level(logging.ERROR, logger="redhorn.licence"):
        keeper = LicenceKeeper(path, None, ApiLicence(), key_problem="the issuer key file 'k.pub' cannot be read")
    assert keeper.state.status == "invalid"
    assert keeper.state.reason == "the issuer key file 'k.pub' cannot be read"
    assert "No valid licence: the issuer key file 'k.pub' cannot be read" in caplog.text


def test_a_failed_replace_leaves_the_old_file_and_no_temporary_one(tmp_path: Path):
    target = tmp_path / "redhorn.lic"
    target.mkdir()
    (target / "keep").write_text("a folder in the way")
    with pytest.raises(OSError):
        write_atomically(target, "new\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["redhorn.lic"]
    assert (target / "keep").read_text() == "a folder in the way"


def test_a_replace_refused_while_another_process_holds_the_file_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Windows refuses to replace a file another process has open with a PermissionError, for a moment.
    source, target = tmp_path / "new", tmp_path / "redhorn.lic"
    source.write_text("new")
    refusals = [PermissionError("sharing violation")] * 2
    real_replace = os.replace

    def replace(a: Path, b: Path) -> None:
        if refusals:
            raise refusals.pop()
        real_replace(a, b)

    monkeypatch.setattr(keeper_module, "os", SimpleNamespace(replace=replace))
    replace_when_free(source, target, retry_seconds=5)
    assert target.read_text() == "new" and refusals == []


def test_a_replace_refused_for_longer_than_the_retry_time_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def replace(a: Path, b: Path) -> None:
        raise PermissionError("sharing violation")

    monkeypatch.setattr(keeper_module, "os", SimpleNamespace(replace=replace))
    started = time.monotonic()
    with pytest.raises(PermissionError):
        replace_when_free(tmp_path / "a", tmp_path / "b", retry_seconds=0.05)
    assert time.monotonic() - started < 1
