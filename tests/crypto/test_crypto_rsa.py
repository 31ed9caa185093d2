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
    rsa_decrypt_blob,
    rsa_encrypt_blob,
    rsa_private_op,
    rsa_public_op,
)

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


def test_crt_matches_openssl_decryption() -> None:
    """For a key made by OpenSSL, the CRT private operation undoes OpenSSL's PKCS#1 encryption."""
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
    """For every m below the modulus, the CRT private operation inverts the public one."""
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
