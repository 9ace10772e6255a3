"""The licence: a signed file naming who may run redhorn, for which companies, until when.

A licence is a JWS (Ed25519, through joserfc) whose payload names the licensee, the
licensed company numbers (or all), the expiry and an identifier. redhorn verifies it with the
issuer's public key from `ApiLicence.IssuerPublicKey` at startup and on every check; a licence
that is missing, unreadable, altered, signed by another key or expired makes data paths answer
503 `LicenceInvalid`, saying why and since when. With `LicenceFilePath` empty redhorn runs
unlicensed, and says so in `/health`.

This module only reads and judges licences; `licence_renewal` keeps them fresh, and
`licence_service` is the issuer's side.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from redhorn.errors import CompanyNotLicensed, LicenceError, LicenceInvalid

ALGORITHM = "Ed25519"  # RFC 9864: the fully specified name for EdDSA with Ed25519
LicenceStatus = Literal["unlicensed", "valid", "invalid"]


class Licence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a licence grants. `companies` empty means every company."""

    id: str
    licensee: str
    expires: int
    issued: int
    companies: tuple[int, ...] = ()

    def covers(self, company_no: int) -> bool:
        return not self.companies or company_no in self.companies

    def expiry_text(self) -> str:
        return dt.datetime.fromtimestamp(self.expires, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


_decoder = msgspec.json.Decoder(Licence)
# Not a response body: the signed licence payload, whose bytes the signature covers.
_encoder = msgspec.json.Encoder()


def generate_key() -> tuple[bytes, bytes]:
    """A new issuer key pair: (private PEM, public PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def public_key_of(private_pem: bytes) -> bytes:
    """The public key (PEM) of an Ed25519 private key (PEM)."""
    private = serialization.load_pem_private_key(private_pem, password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> OKPKey:
    """The issuer's public key from PEM.

    Raises:
        LicenceError: not an Ed25519 public key.
    """
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise LicenceError("ApiLicence.IssuerPublicKey is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise LicenceError("ApiLicence.IssuerPublicKey is not an Ed25519 key")
    return OKPKey.import_key(pem)


def load_private_key(pem: bytes) -> OKPKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise LicenceError("not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise LicenceError("not an Ed25519 private key")
    return OKPKey.import_key(pem)


def issue_licence(
    private_key: OKPKey,
    licensee: str,
    *,
    days: float,
    companies: tuple[int, ...] = (),
    licence_id: str | None = None,
    now: float | None = None,
) -> str:
    """A signed licence text (JWS compact serialization)."""
    issued = int(time.time() if now is None else now)
    licence = Licence(
        id=licence_id or str(uuid.uuid4()),
        licensee=licensee,
        expires=issued + int(days * 86400),
        issued=issued,
        companies=tuple(sorted(set(companies))),
    )
    header = {"alg": ALGORITHM, "typ": "redhorn-licence"}
    return jws.serialize_compact(header, _encoder.encode(licence), private_key, algorithms=[ALGORITHM])


def verify_licence(text: str, public_key: OKPKey, *, now: float | None = None) -> Licence:
    """The licence in `text` if it is signed by `public_key` and not expired.

    Raises:
        LicenceError: malformed, altered, signed by another key, or expired.
    """
    try:
        signed = jws.deserialize_compact(text.strip(), public_key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise LicenceError("the licence's signature does not verify (altered, or signed by another issuer)") from exc
    try:
        licence = _decoder.decode(signed.payload)
    except msgspec.ValidationError as exc:
        raise LicenceError(f"the licence's content is not understood: {exc}") from exc
    moment = time.time() if now is None else now
    if moment >= licence.expires:
        raise LicenceError(f"the licence {licence.id} expired on {licence.expiry_text()}")
    return licence


class LicenceState(msgspec.Struct, frozen=True):
    """The licence as last judged: one of unlicensed, valid (with the licence) or invalid (with why)."""

    status: LicenceStatus
    licence: Licence | None = None
    reason: str = ""
    since: int = 0

    def days_left(self, now: float | None = None) -> float | None:
        if self.licence is None:
            return None
        return round((self.licence.expires - (time.time() if now is None else now)) / 86400, 2)

    def require(self, company_no: int | None, now: float | None = None) -> None:
        """Raise unless this state allows reading `company_no` (None: vbsys or Catalog).

        Raises:
            LicenceInvalid: no valid licence, or it has expired since it was read.
            CompanyNotLicensed: the licence does not name the company.
        """
        if self.status == "unlicensed":
            return
        if self.licence is None:
            since = dt.datetime.fromtimestamp(self.since, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise LicenceInvalid(f"No valid licence since {since}: {self.reason}")
        if (time.time() if now is None else now) >= self.licence.expires:
            raise LicenceInvalid(f"The licence {self.licence.id} expired on {self.licence.expiry_text()}")
        if company_no is not None and not self.licence.covers(company_no):
            raise CompanyNotLicensed(f"The licence does not cover company {company_no}", target="companyNo")


def read_licence(path: Path | None, public_key: OKPKey | None, *, now: float | None = None) -> LicenceState:
    """Judge the licence file at `path` (None: unlicensed)."""
    moment = int(time.time() if now is None else now)
    if path is None:
        return LicenceState("unlicensed", since=moment)
    if public_key is None:
        return LicenceState("invalid", reason="ApiLicence.IssuerPublicKey is not set", since=moment)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LicenceState("invalid", reason=f"the licence file {path.name!r} is missing", since=moment)
    except (OSError, UnicodeDecodeError):
        return LicenceState("invalid", reason=f"the licence file {path.name!r} cannot be read", since=moment)
    try:
        return LicenceState("valid", verify_licence(text, public_key, now=moment), since=moment)
    except LicenceError as exc:
        return LicenceState("invalid", reason=str(exc), since=moment)
