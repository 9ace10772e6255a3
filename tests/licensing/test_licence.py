"""Licences on their own: signing, judging, renewal rules, atomic replacement, the service's answers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from redhorn.errors import CompanyNotLicensed, LicenceError, LicenceInvalid
from redhorn.licensing.keeper import LicenceKeeper, write_atomically
from redhorn.licensing.licence import (
    generate_key,
    issue_licence,
    load_private_key,
    load_public_key,
    read_licence,
    verify_licence,
)
from redhorn.settings import ApiLicence
from redhorn.tools.licence_service import create_service, service_openapi

PRIVATE, PUBLIC = generate_key()
SIGNER, VERIFIER = load_private_key(PRIVATE), load_public_key(PUBLIC)
OTHER_SIGNER = load_private_key(generate_key()[0])


def test_a_licence_verifies_and_says_what_it_grants():
    text = issue_licence(SIGNER, "ACME AS", days=10, companies=(9999, 1, 9999))
    licence = verify_licence(text, VERIFIER)
    assert licence.licensee == "ACME AS" and licence.companies == (1, 9999)
    assert licence.covers(9999) and not licence.covers(2)
    assert verify_licence(issue_licence(SIGNER, "All", days=1), VERIFIER).covers(42)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(issue_licence(OTHER_SIGNER, "X", days=1), "signature", id="foreign-key"),
        pytest.param(issue_licence(SIGNER, "X", days=1)[:-4] + "AAAA", "signature", id="tampered"),
        pytest.param("not a licence", "signature", id="garbage"),
        pytest.param(issue_licence(SIGNER, "X", days=1, now=time.time() - 3 * 86400), "expired", id="expired"),
    ],
)
def test_bad_licences_are_refused_with_a_reason(text: str, reason: str):
    with pytest.raises(LicenceError, match=reason):
        verify_licence(text, VERIFIER)


def test_states_and_what_they_allow(tmp_path: Path):
    assert read_licence(None, None).status == "unlicensed"
    missing = read_licence(tmp_path / "none.lic", VERIFIER)
    assert missing.status == "invalid" and "missing" in missing.reason
    with pytest.raises(LicenceInvalid, match="missing"):
        missing.require(9999)
    path = tmp_path / "ok.lic"
    path.write_text(issue_licence(SIGNER, "ACME", days=1, companies=(9999,)))
    state = read_licence(path, VERIFIER)
    state.require(9999)
    state.require(None)
    with pytest.raises(CompanyNotLicensed):
        state.require(1)
    with pytest.raises(LicenceInvalid, match="expired"):
        state.require(9999, now=time.time() + 2 * 86400)
    assert 0.9 < state.days_left() < 1.01  # type: ignore[operator]


def test_renewal_is_due_near_the_expiry_only(tmp_path: Path):
    path = tmp_path / "a.lic"
    settings = ApiLicence(licence_file_path=str(path), licence_service_base_url="http://x", renew_days_before_expiry=30)
    path.write_text(issue_licence(SIGNER, "ACME", days=60))
    keeper = LicenceKeeper(path, VERIFIER, settings)
    assert not keeper.due_for_renewal()
    path.write_text(issue_licence(SIGNER, "ACME", days=20))
    assert keeper.due_for_renewal()
    path.write_text(issue_licence(SIGNER, "ACME", days=1, now=time.time() - 5 * 86400))
    assert keeper.due_for_renewal(), "an expired licence may still be renewed"
    path.write_text(issue_licence(OTHER_SIGNER, "ACME", days=1))
    assert not keeper.due_for_renewal(), "a foreign one is not presented to the service"
    assert not LicenceKeeper(path, VERIFIER, ApiLicence(licence_file_path=str(path))).due_for_renewal()


def test_files_are_replaced_atomically(tmp_path: Path):
    path = tmp_path / "x.lic"
    path.write_text("old")
    write_atomically(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["x.lic"]


async def test_the_service_renews_its_own_licences_only(tmp_path: Path):
    revoked = tmp_path / "revoked.txt"
    app = create_service(PRIVATE, days=365, grace_days=10, revoked=revoked)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        current = issue_licence(SIGNER, "ACME", days=5, companies=(9999,))
        response = await client.post("/api/licences/renew", json={"licence": current})
        assert response.status_code == 200
        fresh = verify_licence(response.json()["licence"], VERIFIER)
        old = verify_licence(current, VERIFIER)
        assert (fresh.id, fresh.licensee, fresh.companies) == (old.id, old.licensee, old.companies)
        assert fresh.expires > old.expires + 300 * 86400
        cases = [
            ({"licence": issue_licence(OTHER_SIGNER, "ACME", days=5)}, 403, "NotRenewable"),
            ({"licence": issue_licence(SIGNER, "ACME", days=1, now=time.time() - 30 * 86400)}, 410, "ExpiredTooLong"),
            ({"nothing": 1}, 400, "BadRequest"),
        ]
        for body, status, code in cases:
            answer = await client.post("/api/licences/renew", json=body)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
        assert (await client.post("/api/licences/renew", content=b"{not json")).status_code == 400
        revoked.write_text(old.id + "\n")
        answer = await client.post("/api/licences/renew", json={"licence": current})
        assert answer.status_code == 403 and "revoked" in answer.json()["error"]["message"]
        pem = await client.get("/api/licences/public-key")
        assert pem.content == PUBLIC
        document = (await client.get("/openapi.json")).json()
    validate(document)
    assert document == service_openapi()
