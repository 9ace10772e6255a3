"""The certificate check names the file at fault before the server starts, in words an operator can act on."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from redhorn.errors import CertificateError
from redhorn.server.tls import check_certificate_pair, make_development_certificate


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    make_development_certificate(folder / "cert.pem", folder / "key.pem", days=30)
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def other_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls-other")
    make_development_certificate(folder / "cert.pem", folder / "key.pem")
    return folder / "cert.pem", folder / "key.pem"


def test_a_development_certificate_serves_loopback_and_localhost_for_the_days_asked(pair: tuple[Path, Path]):
    certificate_file, key_file = pair
    check_certificate_pair(certificate_file, key_file)
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, "the private key is readable by its owner only"
    context = ssl.create_default_context(cafile=str(certificate_file))
    assert context.cert_store_stats()["x509_ca"] == 1


def test_a_key_of_another_certificate_is_named_as_such(pair: tuple[Path, Path], other_pair: tuple[Path, Path]):
    with pytest.raises(CertificateError, match="does not match the certificate") as raised:
        check_certificate_pair(pair[0], other_pair[1])
    assert str(other_pair[1]) in str(raised.value) and str(pair[0]) in str(raised.value)


def test_an_encrypted_key_is_refused_with_how_to_decrypt_it(pair: tuple[Path, Path], tmp_path: Path):
    key = serialization.load_pem_private_key(pair[1].read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(CertificateError, match="is encrypted; redhorn needs it without a passphrase"):
        check_certificate_pair(pair[0], encrypted)


def test_a_certificate_file_that_is_not_pem_is_named(pair: tuple[Path, Path], tmp_path: Path):
    garbage = tmp_path / "cert.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(CertificateError, match=f"^{re.escape(str(garbage))} is not a PEM certificate"):
        check_certificate_pair(garbage, pair[1])


def test_a_key_file_that_is_not_pem_is_named(pair: tuple[Path, Path], tmp_path: Path):
    garbage = tmp_path / "key.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(CertificateError, match=f"^{re.escape(str(garbage))} is not a PEM private key"):
        check_certificate_pair(pair[0], garbage)


def test_a_certificate_given_as_the_key_is_not_a_key(pair: tuple[Path, Path]):
    with pytest.raises(CertificateError, match="is not a PEM private key"):
        check_certificate_pair(pair[0], pair[0])


@pytest.mark.parametrize(
    ("certificate", "key", "message"),
    [
        pytest.param(False, False, "No TLS certificate at .* and no key at", id="neither"),
        pytest.param(False, True, "No TLS certificate at .*; run 'redhorn dev-cert'", id="certificate"),
        pytest.param(True, False, "No TLS key file at .*; set Server.KeyFile", id="key"),
    ],
)
def test_a_missing_file_is_named(pair: tuple[Path, Path], tmp_path: Path, certificate: bool, key: bool, message: str):
    certificate_file = pair[0] if certificate else tmp_path / "missing-cert.pem"
    key_file = pair[1] if key else tmp_path / "missing-key.pem"
    with pytest.raises(CertificateError, match=message):
        check_certificate_pair(certificate_file, key_file)


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs a file whose reading fails (Linux /proc)")
def test_a_file_that_cannot_be_read_is_said_so_with_the_systems_reason(pair: tuple[Path, Path]):
    # /proc/self/mem is a regular file whose first page is unmapped: reading it fails with EIO,
    # as a file on a failing disk or share would (root, as the tests run, reads any permission).
    with pytest.raises(CertificateError, match="Cannot read the TLS certificate .* Input/output error"):
        check_certificate_pair(Path("/proc/self/mem"), pair[1])
