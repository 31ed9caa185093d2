"""Proprietary certificates and the Terminal Services signing key (MS-RDPBCGR 5.3.3.1)."""

from __future__ import annotations

import contextlib
import hashlib

import gmpy2
import pytest
from crypto_helpers import seeded
from crypto_vectors import (
    CRYPTO,
    hex_file,
    sc_security_certificate,
    spec_41_server_certificate,
    spec_414_proprietary_certificate,
    windows_proprietary_certificate,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import (
    TS_SIGNING_KEY,
    CertificateError,
    build_proprietary_certificate,
    generate_rsa_key,
    public_key_from_server_certificate,
    verify_proprietary_certificate,
    verify_server_certificate,
)
from rdplic.crypto.proprietary import rsa_public_key_blob
from rdplic.pdu.certificates import ProprietaryServerCertificate, decode_server_certificate


def test_ts_signing_key_is_the_published_one() -> None:
    """TS_SIGNING_KEY has the modulus and exponents printed in MS-RDPBCGR 5.3.3.1.1."""
    modulus = bytes.fromhex(
        "3d3a5ebd72433ec94dbbc11e4aba5fcb3e882087eff5c1e2d7b76b9af2524595"
        "ce63656b583afeef7ce7bffe3df65c7d6c5e06091af561bb2093095f056dea87"
    )
    private = bytes.fromhex(
        "87a71932da11875558001616256568f8243ee6fae9674994cf92cc3399e80860"
        "179a129f24ddb12499c73ab80a7b0ddd350779170b519bb3c7100113e73ff35f"
    )
    assert TS_SIGNING_KEY.n.to_bytes(64, "little") == modulus
    assert TS_SIGNING_KEY.d.to_bytes(64, "little") == private
    assert TS_SIGNING_KEY.e.to_bytes(4, "little") == bytes.fromhex("5b7b88c0")
    assert TS_SIGNING_KEY.bits == 512
    assert gmpy2.is_prime(TS_SIGNING_KEY.p) and gmpy2.is_prime(TS_SIGNING_KEY.q)


def test_windows_capture_certificate_verifies_and_rebuilds() -> None:
    """Windows Server's 2048-bit certificate (capture frame 13) verifies and rebuilds exactly."""
    certificate = windows_proprietary_certificate()
    public = verify_proprietary_certificate(certificate)
    assert public.bits == 2048 and public.e == 0x10001
    assert build_proprietary_certificate(public) == certificate
    assert decode_server_certificate(certificate).permanent is False


def test_spec_414_certificate_verifies_and_rebuilds() -> None:
    """MS-RDPBCGR 4.1.4's 512-bit certificate verifies with the TS key and rebuilds exactly."""
    certificate = spec_414_proprietary_certificate()
    public = verify_proprietary_certificate(certificate)
    assert public.bits == 512 and public.e == 0x10001
    assert build_proprietary_certificate(public) == certificate
    assert hex_file(CRYPTO / "ironrdp-proprietary-certificate-512.hex") == certificate


@pytest.mark.parametrize(
    ("name", "bits"),
    [
        ("ironrdp-proprietary-certificate-512.hex", 512),
        ("redemption-sc-security-512.hex", 512),
        ("redemption-sc-security-2048.hex", 2048),
    ],
)
def test_public_windows_certificates_verify(name: str, bits: int) -> None:
    """Windows certificates from IronRDP's and redemption's tests verify and rebuild exactly."""
    data = hex_file(CRYPTO / name)
    certificate = data if name.startswith("ironrdp") else sc_security_certificate(data)
    public = verify_proprietary_certificate(certificate)
    assert public.modulus_bytes * 8 == bits  # redemption's 512-bit key has a 511-bit modulus
    assert public_key_from_server_certificate(certificate) == public
    assert verify_server_certificate(certificate) == public
    permanent = decode_server_certificate(certificate).permanent
    assert build_proprietary_certificate(public, permanent=permanent) == certificate


def test_signature_block_shape() -> None:
    """The signature decrypts to MD5(signed) ‖ 00 ‖ FF×45 ‖ 01 ‖ 00 (5.3.3.1.2, not …10)."""
    certificate = windows_proprietary_certificate()
    decoded = decode_server_certificate(certificate).certificate
    assert isinstance(decoded, ProprietaryServerCertificate)
    signed = certificate[: 16 + 20 + len(decoded.public_key.modulus)]
    s = int.from_bytes(decoded.signature[:64], "little")
    block = pow(s, TS_SIGNING_KEY.e, TS_SIGNING_KEY.n).to_bytes(64, "little")
    assert block == hashlib.md5(signed).digest() + b"\x00" + b"\xff" * 45 + b"\x01\x00"


@pytest.mark.parametrize("bits", [512, 1024, 2048])
def test_build_and_verify(bits: int) -> None:
    """A certificate built for a key of each operator-chosen size verifies to that key."""
    key = generate_rsa_key(bits, seeded(bits).randbytes)
    certificate = build_proprietary_certificate(key.public)
    assert verify_proprietary_certificate(certificate) == key.public
    blob = rsa_public_key_blob(key.public)
    assert blob.bitlen == bits and blob.datalen == bits // 8 - 1
    assert len(blob.modulus) == bits // 8 + 8
    assert certificate[:4] == b"\x01\x00\x00\x00"


def test_permanent_sets_the_t_bit() -> None:
    """permanent=True writes dwVersion 0x80000001, and the signature covers it."""
    key = generate_rsa_key(512, seeded(5).randbytes)
    certificate = build_proprietary_certificate(key.public, permanent=True)
    assert certificate[:4] == b"\x01\x00\x00\x80"
    assert verify_proprietary_certificate(certificate) == key.public
    flipped = b"\x01\x00\x00\x00" + certificate[4:]
    with pytest.raises(CertificateError):
        verify_proprietary_certificate(flipped)


def test_x509_chain_is_not_proprietary() -> None:
    """verify_proprietary_certificate refuses an X.509 chain (MS-RDPELE 4.1)."""
    with pytest.raises(CertificateError):
        verify_proprietary_certificate(spec_41_server_certificate())


_CERTIFICATE = build_proprietary_certificate(generate_rsa_key(512, seeded(6).randbytes).public)


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, len(_CERTIFICATE) - 1), flip=st.integers(1, 255))
def test_any_changed_byte_is_rejected(index: int, flip: int) -> None:
    """Changing any byte of a proprietary certificate makes it fail with CertificateError."""
    changed = bytearray(_CERTIFICATE)
    changed[index] ^= flip
    with pytest.raises(CertificateError):
        verify_proprietary_certificate(bytes(changed))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_garbage_raises_only_certificate_error(data: bytes) -> None:
    """Arbitrary bytes end in CertificateError (or, by chance, a key), never another exception."""
    with contextlib.suppress(CertificateError):
        verify_server_certificate(data)
