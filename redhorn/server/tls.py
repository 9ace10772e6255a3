"""A self-signed development certificate for 127.0.0.1 and localhost, made on first run, and the
check that a certificate and its key can serve TLS before the server starts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from redhorn.errors import CertificateError


def make_development_certificate(certificate_file: Path, key_file: Path, *, days: int = 825) -> None:
    """Write a certificate valid for 127.0.0.1, ::1 and localhost, and its key (mode 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redhorn development")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def check_certificate_pair(certificate_file: Path, key_file: Path) -> None:
    """Load the certificate with its key as the server will, so that a problem is named before it starts.

    uvicorn reports a missing key as a missing file without saying which, and a key of another
    certificate in OpenSSL's words only, after the login banner has been printed.

    Raises:
        CertificateError: a file is missing or unreadable, not PEM, encrypted, or the key is another certificate's.
    """
    _check_present(certificate_file, key_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def refuse_encrypted_key() -> bytes:
        raise CertificateError(
            f"The TLS key {key_file} is encrypted; redhorn needs it without a passphrase "
            "(openssl pkey -in KEY -out PLAIN), named in Server.KeyFile"
        )

    try:
        context.load_cert_chain(certificate_file, key_file, password=refuse_encrypted_key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise CertificateError(
                f"The TLS key {key_file} does not match the certificate {certificate_file}; set Server.KeyFile "
                "to the certificate's own key, or run 'redhorn dev-cert' for a new pair"
            ) from None
        raise CertificateError(_not_pem(certificate_file, key_file)) from None
    except OSError as exc:
        raise CertificateError(
            f"Cannot read the TLS certificate {certificate_file} or its key {key_file}: {exc.strerror or exc}"
        ) from None


def _check_present(certificate_file: Path, key_file: Path) -> None:
    """Name the file that is missing: `redhorn dev-cert` makes both, a real certificate comes with its key."""
    has_certificate, has_key = certificate_file.is_file(), key_file.is_file()
    if not has_certificate and not has_key:
        raise CertificateError(
            f"No TLS certificate at {certificate_file} and no key at {key_file}; run 'redhorn dev-cert' "
            "or set Server.CertificateFile and Server.KeyFile"
        )
    if not has_certificate:
        raise CertificateError(
            f"No TLS certificate at {certificate_file}; run 'redhorn dev-cert' or set Server.CertificateFile"
        )
    if not has_key:
        raise CertificateError(
            f"No TLS key file at {key_file}; set Server.KeyFile to the private key of {certificate_file}, "
            "or run 'redhorn dev-cert' for a new pair"
        )


def _not_pem(certificate_file: Path, key_file: Path) -> str:
    """Which of the two files OpenSSL could not read: it says only 'PEM lib'."""
    try:
        x509.load_pem_x509_certificate(certificate_file.read_bytes())
    except ValueError:
        return (
            f"{certificate_file} is not a PEM certificate; set Server.CertificateFile to one, or run 'redhorn dev-cert'"
        )
    return f"{key_file} is not a PEM private key; set Server.KeyFile to the key of {certificate_file}"
