"""Raw RSA as RDP uses it: key generation, PEM storage, premaster encryption (BCGR 5.3.4.1)."""

from __future__ import annotations

import gmpy2
import pytest
from crypto_helpers import seeded
from crypto_vectors import CRYPTO, hex_file, json_file
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import (
    CryptoError,
    RsaPrivateKey,
    RsaPublicKey,
    build_x509_chain,
    decrypt_premaster,
    dump_private_key,
    encrypt_premaster,
    generate_rsa_key,
    load_private_key,
    public_key_from_server_certificate,
    rsa_backend,
    rsa_decrypt_blob,
    rsa_encrypt_blob,
    rsa_private_op,
    rsa_public_op,
)
from rdplic.crypto import rsa as rsa_module

KEYS = json_file(CRYPTO / "ironrdp-licensing-keys.json")


@pytest.mark.parametrize("bits", [512, 520, 1024])
def test_generated_key_has_exact_size(bits: int) -> None:
    """generate_rsa_key gives a modulus of exactly the requested size, e = 65537, prime factors."""
    key = generate_rsa_key(bits, seeded(bits).randbytes)
    assert key.bits == bits
    assert key.e == 0x10001
    assert gmpy2.is_prime(key.p) and gmpy2.is_prime(key.q)
    assert key.p * key.q == key.n


def test_generation_is_deterministic_for_a_seed() -> None:
    """The same random stream gives the same key; another stream another key."""
    first = generate_rsa_key(512, seeded(7).randbytes)
    assert generate_rsa_key(512, seeded(7).randbytes) == first
    assert generate_rsa_key(512, seeded(8).randbytes) != first


def test_generation_refuses_small_keys() -> None:
    """Keys below 512 bits (smaller than anything RDP uses) raise CryptoError."""
    with pytest.raises(CryptoError):
        generate_rsa_key(256, seeded(1).randbytes)


def test_generation_rejects_a_short_random_source() -> None:
    """A random source that returns too few bytes raises CryptoError instead of looping."""
    with pytest.raises(CryptoError):
        generate_rsa_key(512, lambda n: b"\x01")


def test_pem_round_trip_of_a_512_bit_key(key512: RsaPrivateKey) -> None:
    """A 512-bit key survives PKCS#8 PEM, which cryptography writes and loads."""
    pem = dump_private_key(key512)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(pem) == key512


def test_load_accepts_pkcs1_and_der(key512: RsaPrivateKey) -> None:
    """load_private_key also reads PKCS#1 PEM and DER as other tools write them."""
    native = key512.to_cryptography()
    for encoding, fmt in (
        (serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL),
        (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8),
    ):
        data = native.private_bytes(encoding, fmt, serialization.NoEncryption())
        assert load_private_key(data) == key512


@pytest.mark.parametrize("data", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nxx\n"])
def test_load_rejects_garbage(data: bytes) -> None:
    """Bytes that are not a private key raise CryptoError."""
    with pytest.raises(CryptoError):
        load_private_key(data)


def test_load_rejects_other_key_types() -> None:
    """An EC key is not an RSA key: CryptoError."""
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CryptoError):
        load_private_key(pem)


def test_private_key_checks_its_values(key512: RsaPrivateKey) -> None:
    """A private key whose primes or CRT values do not match its modulus is refused."""
    with pytest.raises(CryptoError):
        RsaPrivateKey(
            n=key512.n + 2, e=key512.e, d=key512.d, p=key512.p, q=key512.q,
            dp=key512.dp, dq=key512.dq, qinv=key512.qinv,
        )  # fmt: skip
    with pytest.raises(CryptoError):
        RsaPrivateKey(
            n=key512.n, e=key512.e, d=key512.d, p=key512.p, q=key512.q,
            dp=key512.dp + 1, dq=key512.dq, qinv=key512.qinv,
        )  # fmt: skip


def test_private_key_repr_hides_secrets(key512: RsaPrivateKey) -> None:
    """repr() of a private key shows its size and modulus, never d or the primes."""
    text = repr(key512)
    assert str(key512.d) not in text and f"{key512.d:x}" not in text
    assert "bits=512" in text


def test_encrypted_premaster_known_answer() -> None:
    """IronRDP's premaster encrypts to its ENCRYPTED_PREMASTER_SECRET under the 2019 leaf key."""
    chain = build_x509_chain(
        [
            hex_file(CRYPTO / "ironrdp-2019-license-server-cert.hex"),
            hex_file(CRYPTO / "ironrdp-2019-terminal-server-cert.hex"),
        ]
    )
    leaf = public_key_from_server_certificate(chain)
    assert leaf.bits == 512
    encrypted = encrypt_premaster(leaf, bytes.fromhex(KEYS["premaster_secret"]))
    assert encrypted == bytes.fromhex(KEYS["encrypted_premaster_secret"])
    assert encrypted.endswith(bytes(8))


@pytest.mark.parametrize("bits", [512, 1024, 2048])
def test_premaster_round_trip(bits: int) -> None:
    """decrypt_premaster undoes encrypt_premaster; the blob is modulus size + 8 bytes."""
    key = generate_rsa_key(bits, seeded(bits + 1).randbytes)
    premaster = seeded(3).randbytes(48)
    blob = encrypt_premaster(key.public, premaster)
    assert len(blob) == bits // 8 + 8
    assert decrypt_premaster(key, blob) == premaster


def test_decrypt_matches_openssl_raw_rsa(key512: RsaPrivateKey) -> None:
    """The little-endian raw decryption equals OpenSSL's big-endian textbook RSA, bytes reversed."""
    premaster = bytes(range(1, 49))
    m = int.from_bytes(premaster, "little")
    c = key512.to_cryptography().public_key().public_numbers()
    assert c.n == key512.n
    assert rsa_private_op(key512, pow(m, c.e, c.n)) == m


def test_rdesktop_null_premaster(key512: RsaPrivateKey) -> None:
    """rdesktop's 72 zero bytes decrypt to a zero premaster secret, whatever the key size."""
    assert decrypt_premaster(key512, bytes(72)) == bytes(48)
    big = generate_rsa_key(1024, seeded(4).randbytes)
    assert decrypt_premaster(big, bytes(72)) == bytes(48)


@pytest.mark.parametrize("size", [0, 64, 71, 73, 136])
def test_decrypt_rejects_wrong_sizes(key512: RsaPrivateKey, size: int) -> None:
    """An encrypted premaster secret that is not modulus size + 8 bytes raises CryptoError."""
    with pytest.raises(CryptoError):
        decrypt_premaster(key512, b"\x01" * size)


def test_decrypt_rejects_values_above_the_modulus(key512: RsaPrivateKey) -> None:
    """A ciphertext not below the modulus raises CryptoError."""
    with pytest.raises(CryptoError):
        decrypt_premaster(key512, b"\xff" * 64 + bytes(8))


def test_encrypt_rejects_oversized_values(key512: RsaPrivateKey) -> None:
    """A value that does not fit below the modulus raises CryptoError."""
    with pytest.raises(CryptoError):
        encrypt_premaster(key512.public, b"\xff" * 64)


def test_client_random_blob_round_trip(key512: RsaPrivateKey) -> None:
    """rsa_encrypt_blob/rsa_decrypt_blob carry a 32-byte client random (Security Exchange PDU)."""
    client_random = bytes(range(32))
    blob = rsa_encrypt_blob(key512.public, client_random)
    assert rsa_decrypt_blob(key512, blob, 32) == client_random


def test_public_key_checks() -> None:
    """An even modulus or an out-of-range exponent is not a public key."""
    with pytest.raises(CryptoError):
        RsaPublicKey(10, 3)
    with pytest.raises(CryptoError):
        RsaPublicKey(15, 1)


def test_from_private_exponent_recovers_the_primes(key512: RsaPrivateKey) -> None:
    """A key known only by (n, e, d) gets its primes back, so CRT works (the TS key case)."""
    rebuilt = RsaPrivateKey.from_private_exponent(key512.n, key512.e, key512.d)
    assert {rebuilt.p, rebuilt.q} == {key512.p, key512.q}
    with pytest.raises(CryptoError):
        RsaPrivateKey.from_private_exponent(key512.n, key512.e, key512.d + 2)


def test_private_op_matches_openssl_decryption() -> None:
    """For a key made by OpenSSL, the private operation undoes OpenSSL's PKCS#1 encryption."""
    native = rsa.generate_private_key(65537, 1024)
    key = load_private_key(
        native.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ciphertext = native.public_key().encrypt(b"secret", padding.PKCS1v15())
    block = rsa_private_op(key, int.from_bytes(ciphertext, "big")).to_bytes(128, "big")
    assert block.startswith(b"\x00\x02") and block.endswith(b"\x00secret")


@settings(max_examples=200, deadline=None)
@given(m=st.integers(min_value=0))
def test_private_op_inverts_public_op(m: int) -> None:
    """For every m below the modulus, the private operation inverts the public one."""
    key = _KEY
    m %= key.n
    assert rsa_private_op(key, rsa_public_op(key.public, m)) == m
    assert rsa_private_op(key, m) == pow(m, key.d, key.n)


_KEY = generate_rsa_key(512, seeded(99).randbytes)


@settings(max_examples=100, deadline=None)
@given(m=st.integers())
def test_ops_reject_out_of_range(m: int) -> None:
    """Both operations refuse inputs outside [0, n) with CryptoError."""
    if 0 <= m < _KEY.n:
        return
    with pytest.raises(CryptoError):
        rsa_public_op(_KEY.public, m)
    with pytest.raises(CryptoError):
        rsa_private_op(_KEY, m)


# -- the two implementations of the private operation (issue: constant time and blinding) ----

_BACKENDS = [
    pytest.param(
        "_openssl_private_op",
        id="openssl",
        marks=pytest.mark.skipif(rsa_module._OPENSSL is None, reason="no libcrypto"),
    ),
    pytest.param("_gmp_private_op", id="gmp"),
]


def test_openssl_backend_loads_and_runs_by_default() -> None:
    """On Debian the system libcrypto loads, and the server's private operations run in it."""
    assert rsa_module._OPENSSL is not None
    assert rsa_backend().startswith("OpenSSL")
    assert "constant time" in rsa_backend()


@pytest.mark.parametrize("name", _BACKENDS)
def test_backend_reproduces_windows_certificate_signature(name: str) -> None:
    """Both backends sign with the published TS key exactly as Windows signed its proprietary
    certificate (captures/windows frame 13; the signature is MS-RDPBCGR 5.3.3.1.2's)."""
    from crypto_vectors import windows_proprietary_certificate

    from rdplic.crypto import TS_SIGNING_KEY, verify_proprietary_certificate
    from rdplic.crypto.proprietary import _signature_block, _signed_part

    certificate = windows_proprietary_certificate()
    public = verify_proprietary_certificate(certificate)
    blob_len = 20 + public.modulus_bytes + 8  # RSA_PUBLIC_KEY: modulus and its 8 zero bytes
    block = _signature_block(_signed_part(certificate, blob_len))
    signature = getattr(rsa_module, name)(TS_SIGNING_KEY, block).to_bytes(64, "little")
    assert signature + bytes(8) == certificate[-72:]


@pytest.mark.parametrize("name", _BACKENDS)
@pytest.mark.parametrize("bits", [512, 2048])
def test_backend_inverts_the_public_operation(name: str, bits: int) -> None:
    """Each backend undoes raw RSA encryption, at the edges (0, 1, n-1) and in between."""
    key = generate_rsa_key(bits, seeded(bits + 7).randbytes)
    private_op = getattr(rsa_module, name)
    for m in (0, 1, 2, key.n - 1, int.from_bytes(seeded(5).randbytes(bits // 8), "big") % key.n):
        assert private_op(key, rsa_public_op(key.public, m)) == m


@pytest.mark.parametrize("name", _BACKENDS)
def test_backend_matches_openssl_pkcs1_decryption(name: str) -> None:
    """A key made by OpenSSL decrypts OpenSSL's PKCS#1 v1.5 ciphertext in either backend."""
    native = rsa.generate_private_key(65537, 1024)
    key = load_private_key(
        native.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ciphertext = native.public_key().encrypt(b"secret", padding.PKCS1v15())
    value = getattr(rsa_module, name)(key, int.from_bytes(ciphertext, "big"))
    block = value.to_bytes(128, "big")
    assert block.startswith(b"\x00\x02") and block.endswith(b"\x00secret")


@pytest.mark.parametrize("name", _BACKENDS)
def test_backend_decrypts_premaster_and_rdesktop_zeros(
    name: str, key512: RsaPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decrypt_premaster through either backend: a real premaster, and rdesktop's 72 zero bytes
    still give a zero premaster secret."""
    monkeypatch.setattr(rsa_module, "_private_op", getattr(rsa_module, name))
    premaster = seeded(11).randbytes(48)
    assert decrypt_premaster(key512, encrypt_premaster(key512.public, premaster)) == premaster
    assert decrypt_premaster(key512, bytes(72)) == bytes(48)
    # The zero value itself (not rdesktop's blob) also decrypts to zero.
    assert decrypt_premaster(key512, bytes(64 + 8)) == bytes(48)


def test_gmp_backend_is_blinded() -> None:
    """The GMP fallback exponentiates a blinded value: powmod_sec never sees the input itself."""
    import unittest.mock

    key = generate_rsa_key(512, seeded(21).randbytes)
    m = 0x1234567
    c = rsa_public_op(key.public, m)
    seen: list[int] = []
    real = gmpy2.powmod_sec

    def spy(base: object, exponent: object, modulus: object) -> object:
        seen.append(int(base))  # type: ignore[call-overload]
        return real(base, exponent, modulus)

    with unittest.mock.patch.object(rsa_module.gmpy2, "powmod_sec", spy):
        assert rsa_module._gmp_private_op(key, c) == m
        assert rsa_module._gmp_private_op(key, c) == m
    assert len(seen) == 4
    assert seen[0] != c % key.p and seen[2] != c % key.p  # blinded, and freshly each time
    assert seen[0] != seen[2]


def test_environment_chooses_the_gmp_backend() -> None:
    """RDPLIC_RSA=gmp makes the server use the fallback (and say so)."""
    import os
    import subprocess
    import sys

    code = "from rdplic.crypto.rsa import rsa_backend; print(rsa_backend())"
    env = {**os.environ, "RDPLIC_RSA": "gmp"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("GMP") and "blinded" in out.stdout
