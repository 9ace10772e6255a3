"""Keys and licence files that are not what they should be are refused with a reason an operator
can act on; a licence signed right but saying something redhorn does not understand is refused too."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws

from redhorn.errors import LicenceError, LicenceInvalid
from redhorn.licensing.licence import (
    ALGORITHM,
    LicenceState,
    generate_key,
    issue_licence,
    load_private_key,
    load_public_key,
    public_key_of,
    read_licence,
    verify_licence,
)

PRIVATE, PUBLIC = generate_key()
SIGNER, VERIFIER = load_private_key(PRIVATE), load_public_key(PUBLIC)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_PRIVATE = EC_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
EC_PUBLIC = EC_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def test_the_public_key_of_a_private_key_is_its_pair():
    assert public_key_of(PRIVATE) == PUBLIC
    assert public_key_of(generate_key()[0]) != PUBLIC


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        pytest.param(b"not a key", "ApiLicence.IssuerPublicKey is not a PEM public key", id="garbage"),
        pytest.param(PRIVATE, "ApiLicence.IssuerPublicKey is not a PEM public key", id="private-for-public"),
        pytest.param(EC_PUBLIC, "ApiLicence.IssuerPublicKey is not an Ed25519 key", id="another-algorithm"),
    ],
)
def test_an_issuer_key_that_is_not_an_ed25519_public_key_is_refused(pem: bytes, message: str):
    with pytest.raises(LicenceError, match=message):
        load_public_key(pem)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        pytest.param(b"not a key", "not a PEM private key", id="garbage"),
        pytest.param(PUBLIC, "not a PEM private key", id="public-for-private"),
        pytest.param(EC_PRIVATE, "not an Ed25519 private key", id="another-algorithm"),
    ],
)
def test_a_signing_key_that_is_not_an_ed25519_private_key_is_refused(pem: bytes, message: str):
    with pytest.raises(LicenceError, match=message):
        load_private_key(pem)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"id": "x", "licensee": "ACME", "issued": 1}, id="no-expiry"),
        pytest.param({"id": "x", "licensee": "ACME", "issued": 1, "expires": 2**40, "seats": 5}, id="unknown-field"),
        pytest.param({"id": "x", "licensee": "ACME", "issued": 1, "expires": "never"}, id="wrong-type"),
    ],
)
def test_a_signed_licence_whose_content_is_not_understood_is_refused(payload: dict[str, object]):
    text = jws.serialize_compact({"alg": ALGORITHM}, msgspec.json.encode(payload), SIGNER, algorithms=[ALGORITHM])
    with pytest.raises(LicenceError, match="the licence's content is not understood"):
        verify_licence(text, VERIFIER)


def test_a_licence_is_valid_until_the_second_it_expires():
    now = 1_700_000_000
    text = issue_licence(SIGNER, "ACME", days=1, licence_id="L-1", now=now)
    assert verify_licence(text, VERIFIER, now=now + 86399).id == "L-1"
    with pytest.raises(LicenceError, match="the licence L-1 expired on 2023-11-15 22:13 UTC"):
        verify_licence(text, VERIFIER, now=now + 86400)


def test_a_licence_file_without_an_issuer_key_is_invalid(tmp_path: Path):
    path = tmp_path / "redhorn.lic"
    path.write_text(issue_licence(SIGNER, "ACME", days=1))
    state = read_licence(path, None, now=1_700_000_000)
    assert state == LicenceState("invalid", reason="ApiLicence.IssuerPublicKey is not set", since=1_700_000_000)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: path.mkdir(), id="a-folder"),
        pytest.param(lambda path: path.write_bytes(b"\xff\xfe licence"), id="not-utf8"),
    ],
)
def test_a_licence_file_that_cannot_be_read_is_invalid_and_named(tmp_path: Path, make):
    path = tmp_path / "redhorn.lic"
    make(path)
    state = read_licence(path, VERIFIER)
    assert state.status == "invalid"
    assert state.reason == "the licence file 'redhorn.lic' cannot be read"
    assert state.licence is None and state.days_left() is None


def test_an_invalid_state_says_since_when_and_why():
    since = int(dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC).timestamp())
    state = LicenceState("invalid", reason="the licence file 'x.lic' is missing", since=since)
    with pytest.raises(LicenceInvalid) as raised:
        state.require(None)
    assert raised.value.message == "No valid licence since 2024-03-01 12:30 UTC: the licence file 'x.lic' is missing"


def test_running_unlicensed_allows_every_company_and_counts_no_days():
    state = read_licence(None, VERIFIER, now=time.time())
    assert state.status == "unlicensed" and state.days_left() is None
    state.require(4242)
    state.require(None)
