"""Licensing key derivation, RC4 and MACData (MS-RDPELE 5.1).

Both peers derive the same keys from the client random, the server random and
the premaster secret the client chose (MS-RDPELE 5.1.2):

* ``SaltedHash(S, I) = MD5(S ‖ SHA1(I ‖ S ‖ ClientRandom ‖ ServerRandom))``,
  ``MasterSecret = SaltedHash(Premaster, 'A') ‖ …('BB') ‖ …('CCC')``;
* ``SessionKeyBlob`` is the same construction over the master secret with the
  two randoms swapped;
* ``MACSaltKey = SessionKeyBlob[0:16]``,
  ``LicensingEncryptionKey = MD5(SessionKeyBlob[16:32] ‖ ClientRandom ‖ ServerRandom)``.

Every encrypted field is RC4 with a fresh key schedule (MS-RDPELE 5.1.3, 5.1.4):
the examples of MS-RDPELE 4.5 decrypt the response data and the hardware id
with the same keystream prefix.  MACData is MS-RDPELE 5.1.5, computed over the
plaintext.  Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher

from rdplic.crypto.errors import CryptoError

__all__ = [
    "CLIENT_RANDOM_SIZE",
    "MAC_SIZE",
    "PREMASTER_SECRET_SIZE",
    "SERVER_RANDOM_SIZE",
    "LicensingKeys",
    "derive_licensing_keys",
    "mac_data",
    "master_secret",
    "rc4",
    "session_key_blob",
    "verify_mac",
]

CLIENT_RANDOM_SIZE = 32
SERVER_RANDOM_SIZE = 32
PREMASTER_SECRET_SIZE = 48
MAC_SIZE = 16

_PAD1 = b"\x36" * 40
_PAD2 = b"\x5c" * 48
_SALTS = (b"A", b"BB", b"CCC")


@dataclass(frozen=True, slots=True)
class LicensingKeys:
    """The keys of one licensing exchange (MS-RDPELE 5.1.2)."""

    master_secret: bytes
    """48 bytes, from the premaster secret and both randoms."""
    session_key_blob: bytes
    """48 bytes, from the master secret and both randoms (swapped)."""
    mac_salt_key: bytes
    """First 16 bytes of the session key blob: the key of MACData."""
    licensing_encryption_key: bytes
    """16 bytes: the RC4 key of every encrypted licensing field."""


def _check_size(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise CryptoError(f"{name} must be {size} bytes, got {len(value)}")


def _salted_hash(secret: bytes, salt: bytes, first: bytes, second: bytes) -> bytes:
    inner = hashlib.sha1(salt + secret + first + second).digest()
    return hashlib.md5(secret + inner).digest()


def master_secret(premaster: bytes, client_random: bytes, server_random: bytes) -> bytes:
    """The 48-byte master secret (MS-RDPELE 5.1.2, PreMasterHash/MasterSecret)."""
    _check_size("premaster secret", premaster, PREMASTER_SECRET_SIZE)
    _check_size("client random", client_random, CLIENT_RANDOM_SIZE)
    _check_size("server random", server_random, SERVER_RANDOM_SIZE)
    return b"".join(_salted_hash(premaster, s, client_random, server_random) for s in _SALTS)


def session_key_blob(master: bytes, client_random: bytes, server_random: bytes) -> bytes:
    """The 48-byte session key blob (MS-RDPELE 5.1.2): master-secret hashes, randoms swapped."""
    _check_size("master secret", master, 48)
    _check_size("client random", client_random, CLIENT_RANDOM_SIZE)
    _check_size("server random", server_random, SERVER_RANDOM_SIZE)
    return b"".join(_salted_hash(master, s, server_random, client_random) for s in _SALTS)


def derive_licensing_keys(
    premaster: bytes, client_random: bytes, server_random: bytes
) -> LicensingKeys:
    """All keys of a licensing exchange (MS-RDPELE 5.1.2).

    Raises `CryptoError` unless the premaster secret is 48 bytes and each random 32.
    """
    master = master_secret(premaster, client_random, server_random)
    blob = session_key_blob(master, client_random, server_random)
    key = hashlib.md5(blob[16:32] + client_random + server_random).digest()
    return LicensingKeys(
        master_secret=master,
        session_key_blob=blob,
        mac_salt_key=blob[:16],
        licensing_encryption_key=key,
    )


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4 of ``data`` with a fresh key schedule (MS-RDPELE 5.1.3, 5.1.4).

    Encryption and decryption are the same operation.  Each licensing field
    starts at keystream offset 0, so every field gets its own call.  The key
    is 5, 7, 8, 10, 16, 20, 24 or 32 bytes (licensing uses 16).
    """
    if len(key) * 8 not in ARC4.key_sizes:
        sizes = ", ".join(str(bits // 8) for bits in sorted(ARC4.key_sizes))
        raise CryptoError(f"RC4 key must be {sizes} bytes long, got {len(key)}")
    return Cipher(ARC4(key), mode=None).encryptor().update(data)


def mac_data(mac_salt_key: bytes, data: bytes) -> bytes:
    """The 16-byte MACData over plaintext ``data`` (MS-RDPELE 5.1.5).

    ``MD5(salt ‖ 0x5C×48 ‖ SHA1(salt ‖ 0x36×40 ‖ uint32_le(len(data)) ‖ data))``.
    """
    length = len(data).to_bytes(4, "little")
    inner = hashlib.sha1(mac_salt_key + _PAD1 + length + data).digest()
    return hashlib.md5(mac_salt_key + _PAD2 + inner).digest()


def verify_mac(mac_salt_key: bytes, data: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the MACData of ``data``, compared in constant time."""
    return hmac.compare_digest(mac_data(mac_salt_key, data), mac)
