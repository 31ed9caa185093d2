"""Raw RSA as RDP uses it (MS-RDPBCGR 5.3.4.1, 5.3.3.1; MS-RDPELE 5.1.1).

RDP never pads: the premaster secret (and the client random of Standard RDP
Security) is read as a little-endian integer, raised to the public exponent,
and written little-endian into a zero-filled buffer of the modulus size plus
8 bytes.  The server undoes it with its private key, once per licensing
handshake and once per Standard RDP Security exchange, for any client that
can connect: so the private operation must be constant time and blinded, or
the timing of these operations would reveal the key.  It runs in OpenSSL
(the system's libcrypto through ``ctypes``, `rdplic.crypto._openssl_rsa`:
``EVP_PKEY_decrypt`` with ``RSA_NO_PADDING``, blinded and constant time, as
fast as OpenSSL's own decryption); where no libcrypto can be loaded, in GMP's
constant-time ``powmod_sec`` in CRT form, blinded with a fresh random factor
and checked with the public exponent before it is returned, about four times
slower.  `rsa_backend` says which one runs; ``RDPLIC_RSA=gmp`` (or
``openssl``) chooses.  ``benchmarks/crypto.py`` prints the figures.

Keys of any size from 512 bits are generated here with GMP's primality tests,
because ``cryptography`` refuses to generate keys below 1024 bits while
Windows' proprietary certificates and the Terminal Services signing key are
512-bit.  Candidates are drawn from an injected random source, so a fixed
seed gives the same key.  Keys are stored as PKCS#8 PEM through
``cryptography``, which loads and writes small keys.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gmpy2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crsa

from rdplic.crypto import _openssl_rsa
from rdplic.crypto.errors import CryptoError

__all__ = [
    "DEFAULT_PUBLIC_EXPONENT",
    "MIN_KEY_BITS",
    "PREMASTER_PADDING",
    "RsaPrivateKey",
    "RsaPublicKey",
    "decrypt_premaster",
    "dump_private_key",
    "encrypt_premaster",
    "generate_rsa_key",
    "load_private_key",
    "rsa_backend",
    "rsa_decrypt_blob",
    "rsa_encrypt_blob",
    "rsa_private_op",
    "rsa_public_op",
]

MIN_KEY_BITS = 512
"""Smallest key size RDP uses (proprietary certificates, the TS signing key)."""
DEFAULT_PUBLIC_EXPONENT = 0x10001
"""The exponent Windows puts in its RSA_PUBLIC_KEY and X.509 keys."""
PREMASTER_PADDING = 8
"""Zero bytes after every RSA value on the wire (MS-RDPBCGR 5.3.4.1)."""
_PREMASTER_SIZE = 48
_RDESKTOP_NULL_BLOB = bytes(72)
"""rdesktop sends 72 zero bytes and uses a zero premaster secret (licence.c)."""

RandomBytes = Callable[[int], bytes]


def _mpz(value: int) -> Any:
    return gmpy2.mpz(value)


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    """An RSA public key: modulus ``n`` and public exponent ``e``."""

    n: int
    e: int
    _gmp: tuple[Any, Any] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n < 3 or self.n % 2 == 0:
            raise CryptoError("RSA modulus must be an odd integer above 2")
        if not 3 <= self.e < self.n:
            raise CryptoError("RSA public exponent out of range")
        object.__setattr__(self, "_gmp", (_mpz(self.n), _mpz(self.e)))

    @property
    def bits(self) -> int:
        """Size of the modulus in bits."""
        return self.n.bit_length()

    @property
    def modulus_bytes(self) -> int:
        """Size of the modulus in bytes (64 for a 512-bit key)."""
        return (self.n.bit_length() + 7) // 8

    def to_cryptography(self) -> crsa.RSAPublicKey:
        """The same key as a ``cryptography`` object (for X.509 signatures)."""
        return crsa.RSAPublicNumbers(self.e, self.n).public_key()


@dataclass(frozen=True, slots=True)
class RsaPrivateKey:
    """An RSA private key with its CRT values (``qinv`` = q⁻¹ mod p)."""

    n: int
    e: int
    d: int
    p: int
    q: int
    dp: int
    dq: int
    qinv: int
    _gmp: tuple[Any, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _native: list[crsa.RSAPrivateKey] = dataclasses.field(init=False, repr=False, compare=False)
    _openssl: list[Any] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.p * self.q != self.n or self.p == self.q:
            raise CryptoError("RSA primes do not multiply to the modulus")
        if (
            self.dp != self.d % (self.p - 1)
            or self.dq != self.d % (self.q - 1)
            or (self.qinv * self.q) % self.p != 1
        ):
            raise CryptoError("RSA CRT values do not match the key")
        gmp = tuple(_mpz(v) for v in (self.p, self.q, self.dp, self.dq, self.qinv, self.n))
        object.__setattr__(self, "_gmp", gmp)
        object.__setattr__(self, "_native", [])
        object.__setattr__(self, "_openssl", [])

    def __repr__(self) -> str:
        return f"RsaPrivateKey(bits={self.bits}, e={self.e}, n=0x{self.n:x})"

    @classmethod
    def from_primes(cls, p: int, q: int, e: int = DEFAULT_PUBLIC_EXPONENT) -> RsaPrivateKey:
        """The key with primes ``p``, ``q`` and exponent ``e`` (d = e⁻¹ mod lcm(p-1, q-1))."""
        try:
            d = int(gmpy2.invert(e, gmpy2.lcm(p - 1, q - 1)))
            qinv = int(gmpy2.invert(q, p))
        except ZeroDivisionError:
            raise CryptoError("public exponent not invertible for these primes") from None
        return cls(n=p * q, e=e, d=d, p=p, q=q, dp=d % (p - 1), dq=d % (q - 1), qinv=qinv)

    @classmethod
    def from_private_exponent(cls, n: int, e: int, d: int) -> RsaPrivateKey:
        """The key given only (n, e, d), as the TS signing key is published."""
        try:
            p, q = crsa.rsa_recover_prime_factors(n, e, d)
        except ValueError as error:
            raise CryptoError(f"cannot factor the modulus from (e, d): {error}") from None
        return cls(
            n=n, e=e, d=d, p=p, q=q, dp=d % (p - 1), dq=d % (q - 1), qinv=int(gmpy2.invert(q, p))
        )

    @property
    def bits(self) -> int:
        """Size of the modulus in bits."""
        return self.n.bit_length()

    @property
    def modulus_bytes(self) -> int:
        """Size of the modulus in bytes."""
        return (self.n.bit_length() + 7) // 8

    @property
    def public(self) -> RsaPublicKey:
        """The public half."""
        return RsaPublicKey(self.n, self.e)

    def to_cryptography(self) -> crsa.RSAPrivateKey:
        """The same key as a ``cryptography`` object (built once, then cached)."""
        if not self._native:
            numbers = crsa.RSAPrivateNumbers(
                p=self.p,
                q=self.q,
                d=self.d,
                dmp1=self.dp,
                dmq1=self.dq,
                iqmp=self.qinv,
                public_numbers=crsa.RSAPublicNumbers(self.e, self.n),
            )
            self._native.append(numbers.private_key(unsafe_skip_rsa_key_validation=True))
        return self._native[0]


def rsa_public_op(key: RsaPublicKey, m: int) -> int:
    """``m^e mod n`` for ``0 <= m < n`` (raw RSA, no padding)."""
    if not 0 <= m < key.n:
        raise CryptoError("RSA input out of range for the modulus")
    n, e = key._gmp
    return int(gmpy2.powmod(m, e, n))


def rsa_private_op(key: RsaPrivateKey, m: int) -> int:
    """``m^d mod n`` for ``0 <= m < n``: constant time and blinded (see the module docstring)."""
    if not 0 <= m < key.n:
        raise CryptoError("RSA input out of range for the modulus")
    return _private_op(key, m)


def _openssl_private_op(key: RsaPrivateKey, m: int) -> int:
    """OpenSSL's raw RSA decryption (blinded, constant time) of ``m``."""
    assert _OPENSSL is not None  # INVARIANT: chosen only when libcrypto loaded
    if not key._openssl:
        der = key.to_cryptography().private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        try:
            key._openssl.append(_OPENSSL.load_key(der, key.modulus_bytes))
        except ValueError as error:
            raise CryptoError(str(error)) from None
    size = key.modulus_bytes
    try:
        out = _OPENSSL.private_op(key._openssl[0], m.to_bytes(size, "big"))
    except ValueError as error:
        raise CryptoError(str(error)) from None
    return int.from_bytes(out, "big")


def _gmp_private_op(key: RsaPrivateKey, m: int) -> int:
    """GMP's constant-time ``powmod_sec`` in CRT form, blinded, and checked.

    Blinding: the exponentiation runs on ``m * r^e`` for a fresh random ``r``, and the
    result is multiplied by ``r^-1``, so what is timed is unrelated to the input.  The
    result is checked with the public exponent (a fault in the CRT recombination must
    not leak a prime).
    """
    p, q, dp, dq, qinv, n = key._gmp
    e = gmpy2.mpz(key.e)
    while True:
        r = gmpy2.mpz(secrets.randbelow(key.n - 2) + 2)
        try:
            r_inverse = gmpy2.invert(r, n)
        except ZeroDivisionError:  # pragma: no cover - r shares a prime with n
            continue
        break
    c = gmpy2.mpz(m) * gmpy2.powmod(r, e, n) % n
    m1 = gmpy2.powmod_sec(c % p, dp, p)
    m2 = gmpy2.powmod_sec(c % q, dq, q)
    h = (qinv * (m1 - m2)) % p
    result = (m2 + h * q) * r_inverse % n
    if gmpy2.powmod(result, e, n) != m:
        raise CryptoError("RSA private operation failed its check")
    return int(result)


def _choose_backend() -> tuple[Callable[[RsaPrivateKey, int], int], str]:
    wanted = os.environ.get("RDPLIC_RSA", "").strip().lower()
    if wanted not in ("", "openssl", "gmp"):
        wanted = ""
    if wanted != "gmp" and _OPENSSL is not None:
        return _openssl_private_op, f"{_OPENSSL.version} (libcrypto, blinded, constant time)"
    return _gmp_private_op, f"GMP {gmpy2.version()} powmod_sec (blinded, constant time)"


_OPENSSL = _openssl_rsa.load()
_private_op, _BACKEND_NAME = _choose_backend()


def rsa_backend() -> str:
    """Which implementation does the private operations, for logs and the README."""
    return _BACKEND_NAME


def rsa_encrypt_blob(public: RsaPublicKey, data: bytes) -> bytes:
    """RDP's raw RSA encryption of ``data`` (MS-RDPBCGR 5.3.4.1).

    ``data`` is read little-endian, raised to the public exponent and written
    little-endian into ``modulus_bytes + 8`` bytes.  Used for the premaster
    secret of licensing and the client random of Standard RDP Security.
    """
    m = int.from_bytes(data, "little")
    if m >= public.n:
        raise CryptoError("value to encrypt does not fit below the modulus")
    c = rsa_public_op(public, m)
    return c.to_bytes(public.modulus_bytes, "little") + bytes(PREMASTER_PADDING)


def rsa_decrypt_blob(private: RsaPrivateKey, blob: bytes, size: int) -> bytes:
    """The ``size`` low-order bytes of the raw RSA decryption of an RDP blob.

    ``blob`` must be ``modulus_bytes + 8`` bytes (the padding is ignored) and
    its value below the modulus.  Raw RSA has no padding to check: a wrong
    ciphertext yields other keys, which shows up as a MAC mismatch later.
    """
    expected = private.modulus_bytes + PREMASTER_PADDING
    if len(blob) != expected:
        raise CryptoError(
            f"encrypted value must be {expected} bytes for a {private.bits}-bit key, "
            f"got {len(blob)}"
        )
    c = int.from_bytes(blob[: private.modulus_bytes], "little")
    if c >= private.n:
        raise CryptoError("encrypted value is not below the modulus")
    m = rsa_private_op(private, c)
    return m.to_bytes(private.modulus_bytes, "little")[:size]


def encrypt_premaster(public: RsaPublicKey, premaster: bytes) -> bytes:
    """The EncryptedPreMasterSecret blob data (MS-RDPELE 5.1.1.1, MS-RDPBCGR 5.3.4.1).

    ``modulus_bytes + 8`` bytes: 72 for a 512-bit key, 264 for 2048 bits.
    """
    return rsa_encrypt_blob(public, premaster)


def decrypt_premaster(private: RsaPrivateKey, encrypted: bytes) -> bytes:
    """The 48-byte premaster secret from an EncryptedPreMasterSecret (MS-RDPELE 5.1.1.2).

    ``encrypted`` must be ``modulus_bytes + 8`` bytes, or the 72 zero bytes
    rdesktop sends whatever the key (it uses a zero premaster secret, so 48
    zero bytes are returned); any other size raises `CryptoError`.
    """
    if encrypted == _RDESKTOP_NULL_BLOB:
        return bytes(_PREMASTER_SIZE)
    return rsa_decrypt_blob(private, encrypted, _PREMASTER_SIZE)


def _random_prime(bits: int, e: int, random_bytes: RandomBytes) -> int:
    """A prime of exactly ``bits`` bits with its top two bits set and gcd(p-1, e) = 1."""
    nbytes = (bits + 7) // 8
    top = 3 << (bits - 2)
    mask = (1 << bits) - 1
    while True:
        raw = random_bytes(nbytes)
        if len(raw) != nbytes:
            raise CryptoError("random source returned the wrong number of bytes")
        candidate = (int.from_bytes(raw, "big") & mask) | top | 1
        prime = gmpy2.next_prime(candidate)
        if prime.bit_length() != bits:
            continue
        if not gmpy2.is_prime(prime, 50) or gmpy2.gcd(prime - 1, e) != 1:
            continue
        return int(prime)


def generate_rsa_key(
    bits: int, random_bytes: RandomBytes, *, e: int = DEFAULT_PUBLIC_EXPONENT
) -> RsaPrivateKey:
    """A new RSA key of exactly ``bits`` bits (any size from 512).

    Prime candidates come from ``random_bytes`` (e.g. ``os.urandom``, or a
    seeded generator in tests) and GMP's ``next_prime``/``is_prime`` pick the
    primes, so the same random stream always gives the same key.
    """
    if bits < MIN_KEY_BITS:
        raise CryptoError(f"RSA keys must be at least {MIN_KEY_BITS} bits, got {bits}")
    p_bits = (bits + 1) // 2
    q_bits = bits - p_bits
    while True:
        p = _random_prime(p_bits, e, random_bytes)
        q = _random_prime(q_bits, e, random_bytes)
        if p == q or (p * q).bit_length() != bits:
            continue
        if p < q:
            p, q = q, p
        return RsaPrivateKey.from_primes(p, q, e)


def load_private_key(data: bytes) -> RsaPrivateKey:
    """An RSA private key from PEM (PKCS#8 or PKCS#1) or DER bytes."""
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise CryptoError(f"not an unencrypted RSA private key: {error}") from None
    if not isinstance(key, crsa.RSAPrivateKey):
        raise CryptoError("not an RSA private key")
    numbers = key.private_numbers()
    return RsaPrivateKey(
        n=numbers.public_numbers.n,
        e=numbers.public_numbers.e,
        d=numbers.d,
        p=numbers.p,
        q=numbers.q,
        dp=numbers.dmp1,
        dq=numbers.dmq1,
        qinv=numbers.iqmp,
    )


def dump_private_key(key: RsaPrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (the state directory protects it with mode 0600)."""
    return key.to_cryptography().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
