"""Standard RDP Security: session keys, RC4 with key updates, MAC signatures (MS-RDPBCGR 5.3).

When an RDP connection does not use TLS, the server sends a random and an RSA key in its
Server Security Data; the client answers with its own random encrypted under that key
(Security Exchange PDU, 5.3.4).  Both sides then derive the same session keys from the two
randoms (5.3.5) and protect every later PDU with RC4, whose key is refreshed every 4,096
packets (5.3.7), and an 8-byte MAC, optionally salted with the packet count (5.3.6.1).

This module holds those pure functions and the small stateful `Rc4Stream` / `RdpCipher`
objects a connection keeps.  Decrypting the client random itself is raw RSA and lives in
the RSA module; what arrives here is the 32-byte client random in the clear.

FIPS (ENCRYPTION_METHOD_FIPS, 5.3.5.2: 3DES-CBC keys and HMAC-SHA1 signatures) is not
implemented: the server never selects it, and no client in scope requires it.

Naming: "encrypt" and "decrypt" are from the point of view of the side that owns the
keys.  The server's encrypt key is the client's decrypt key and vice versa.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext

__all__ = [
    "KEY_UPDATE_INTERVAL",
    "EncryptionLevel",
    "EncryptionMethod",
    "MacMismatchError",
    "Rc4Stream",
    "RdpCipher",
    "SessionKeys",
    "derive_session_keys",
    "mac_signature",
    "salted_mac_signature",
    "select_encryption_method",
    "update_key",
]

# MS-RDPBCGR 5.3.6.1 / 5.3.7: the two pads shared by the MAC and the key update.
_PAD1 = b"\x36" * 40
_PAD2 = b"\x5c" * 48

# MS-RDPBCGR 5.3.5.1: 40-bit and 56-bit keys are 64-bit keys whose leading bytes are
# replaced by this salt (3 bytes for 40-bit, 1 byte for 56-bit).
_SALT_40 = b"\xd1\x26\x9e"
_SALT_56 = b"\xd1"

KEY_UPDATE_INTERVAL = 4096
"""MS-RDPBCGR 5.3.7: a key is updated after it has encrypted (or decrypted) 4,096 packets."""


class EncryptionMethod(enum.IntFlag):
    """ENCRYPTION_METHOD_* of the Client and Server Security Data (MS-RDPBCGR 2.2.1.3.3)."""

    NONE = 0x00000000
    BIT_40 = 0x00000001
    BIT_128 = 0x00000002
    BIT_56 = 0x00000008
    FIPS = 0x00000010


class EncryptionLevel(enum.IntEnum):
    """ENCRYPTION_LEVEL_* of the Server Security Data (MS-RDPBCGR 2.2.1.4.3, 5.3.1)."""

    NONE = 0
    LOW = 1
    CLIENT_COMPATIBLE = 2
    HIGH = 3
    FIPS = 4


class MacMismatchError(ValueError):
    """A received PDU's dataSignature does not match its decrypted data (MS-RDPBCGR 5.3.6)."""


def select_encryption_method(
    client_methods: int, level: EncryptionLevel
) -> EncryptionMethod | None:
    """The method a server picks from the client's ENCRYPTION_METHOD_* flags, or None.

    MS-RDPBCGR 5.3.2: at CLIENT_COMPATIBLE the server uses the strongest method the client
    supports; at HIGH it requires 128-bit.  FIPS is never chosen here (not implemented).
    A client that offers nothing acceptable gets None (the server then drops it, as
    Windows does with a protocol error).
    """
    if level is EncryptionLevel.NONE:
        return EncryptionMethod.NONE
    if client_methods & EncryptionMethod.BIT_128:
        return EncryptionMethod.BIT_128
    if level is EncryptionLevel.HIGH:
        return None
    if client_methods & EncryptionMethod.BIT_56:
        return EncryptionMethod.BIT_56
    if client_methods & EncryptionMethod.BIT_40:
        return EncryptionMethod.BIT_40
    return None


def _salted_hash(secret: bytes, label: bytes, first_random: bytes, second_random: bytes) -> bytes:
    """SaltedHash(S, I) = MD5(S + SHA(I + S + random1 + random2)) (MS-RDPBCGR 5.3.5.1)."""
    inner = hashlib.sha1(label + secret + first_random + second_random).digest()
    return hashlib.md5(secret + inner).digest()


def _weaken(key128: bytes, method: EncryptionMethod) -> bytes:
    """Reduce a 128-bit key to the negotiated strength (MS-RDPBCGR 5.3.5.1).

    40-bit: 0xD1269E + Last40Bits(First64Bits(key)); 56-bit: 0xD1 + Last56Bits(First64Bits(key)).
    """
    if method is EncryptionMethod.BIT_40:
        return _SALT_40 + key128[3:8]
    if method is EncryptionMethod.BIT_56:
        return _SALT_56 + key128[1:8]
    return key128


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The keys one side of a Standard RDP Security connection starts with (5.3.5).

    :ivar mac_key: MACKey40/56/128 (8 or 16 bytes)
    :ivar encrypt_key: the initial key this side encrypts with
    :ivar decrypt_key: the initial key this side decrypts with
    :ivar method: the negotiated ENCRYPTION_METHOD_*
    """

    mac_key: bytes
    encrypt_key: bytes
    decrypt_key: bytes
    method: EncryptionMethod


def derive_session_keys(
    client_random: bytes, server_random: bytes, method: EncryptionMethod, *, server: bool
) -> SessionKeys:
    """Derive the initial session keys from the two 32-byte randoms (MS-RDPBCGR 5.3.5.1).

    PreMasterSecret = First192Bits(ClientRandom) + First192Bits(ServerRandom);
    MasterSecret = PreMasterHash('A') + PreMasterHash('BB') + PreMasterHash('CCC');
    SessionKeyBlob = MasterHash('X') + MasterHash('YY') + MasterHash('ZZZ');
    MACKey128 = First128Bits(SessionKeyBlob);
    the server encrypts with MD5(Second128Bits + ClientRandom + ServerRandom) and decrypts
    with MD5(Third128Bits + ClientRandom + ServerRandom); the client the other way round.
    """
    if len(client_random) != 32 or len(server_random) != 32:
        raise ValueError("client and server randoms must be 32 bytes")
    if method not in (EncryptionMethod.BIT_40, EncryptionMethod.BIT_56, EncryptionMethod.BIT_128):
        raise ValueError(f"no session keys for encryption method {method!r}")
    pre_master = client_random[:24] + server_random[:24]
    master = b"".join(
        _salted_hash(pre_master, label, client_random, server_random)
        for label in (b"A", b"BB", b"CCC")
    )
    blob = b"".join(
        _salted_hash(master, label, client_random, server_random) for label in (b"X", b"YY", b"ZZZ")
    )
    mac_key = blob[:16]
    second = hashlib.md5(blob[16:32] + client_random + server_random).digest()
    third = hashlib.md5(blob[32:48] + client_random + server_random).digest()
    encrypt_key, decrypt_key = (second, third) if server else (third, second)
    return SessionKeys(
        mac_key=_weaken(mac_key, method),
        encrypt_key=_weaken(encrypt_key, method),
        decrypt_key=_weaken(decrypt_key, method),
        method=method,
    )


def update_key(initial_key: bytes, current_key: bytes, method: EncryptionMethod) -> bytes:
    """The next RC4 key after 4,096 packets (MS-RDPBCGR 5.3.7).

    TempKey = MD5(InitialKey + Pad2 + SHA(InitialKey + Pad1 + CurrentKey)), cut to the key
    length; NewKey = RC4(TempKey, TempKey), salted again for 40-bit and 56-bit keys.
    """
    length = len(initial_key)
    sha = hashlib.sha1(initial_key + _PAD1 + current_key).digest()
    temp = hashlib.md5(initial_key + _PAD2 + sha).digest()[:length]
    new = Cipher(ARC4(temp), mode=None).encryptor().update(temp)
    if method is EncryptionMethod.BIT_40:
        return _SALT_40 + new[3:]
    if method is EncryptionMethod.BIT_56:
        return _SALT_56 + new[1:]
    return new


def mac_signature(mac_key: bytes, data: bytes) -> bytes:
    """First64Bits(MD5(MACKey + Pad2 + SHA(MACKey + Pad1 + len + data))) (MS-RDPBCGR 5.3.6.1)."""
    sha = hashlib.sha1(mac_key + _PAD1 + struct.pack("<I", len(data)) + data).digest()
    return hashlib.md5(mac_key + _PAD2 + sha).digest()[:8]


def salted_mac_signature(mac_key: bytes, data: bytes, encryption_count: int) -> bytes:
    """The salted MAC of SEC_SECURE_CHECKSUM (MS-RDPBCGR 5.3.6.1.1).

    As `mac_signature`, with the little-endian count of packets this direction has
    encrypted before this one appended to the SHA-1 input.
    """
    sha = hashlib.sha1(
        mac_key
        + _PAD1
        + struct.pack("<I", len(data))
        + data
        + struct.pack("<I", encryption_count & 0xFFFFFFFF)
    ).digest()
    return hashlib.md5(mac_key + _PAD2 + sha).digest()[:8]


class Rc4Stream:
    """One direction of RC4 with its key updates (MS-RDPBCGR 5.3.6, 5.3.7).

    The RC4 state runs on from packet to packet; after 4,096 packets the key is updated and
    the state restarts from the new key.  ``count`` is the total number of packets
    processed, never reset (it salts the MAC, 5.3.6.1.1).
    """

    __slots__ = ("_context", "_current", "_initial", "_method", "_use", "count")

    def __init__(self, initial_key: bytes, method: EncryptionMethod) -> None:
        self._initial = initial_key
        self._current = initial_key
        self._method = method
        self._context: CipherContext = Cipher(ARC4(initial_key), mode=None).encryptor()
        self._use = 0
        self.count = 0

    def process(self, data: bytes) -> bytes:
        """Encrypt or decrypt one packet's data (RC4 is symmetric)."""
        if self._use >= KEY_UPDATE_INTERVAL:
            self._current = update_key(self._initial, self._current, self._method)
            self._context = Cipher(ARC4(self._current), mode=None).encryptor()
            self._use = 0
        self._use += 1
        self.count += 1
        return self._context.update(data)


class RdpCipher:
    """Both directions of one Standard RDP Security connection, with MACs (5.3.6).

    ``protect`` returns the 8-byte dataSignature and the ciphertext of an outgoing
    payload; ``unprotect`` checks and decrypts an incoming one.  Whether a MAC is salted is
    chosen per packet (the SEC_SECURE_CHECKSUM flag of its security header).
    """

    __slots__ = ("_decrypt", "_encrypt", "keys")

    def __init__(self, keys: SessionKeys) -> None:
        self.keys = keys
        self._encrypt = Rc4Stream(keys.encrypt_key, keys.method)
        self._decrypt = Rc4Stream(keys.decrypt_key, keys.method)

    def protect(self, plaintext: bytes, *, salted: bool = False) -> tuple[bytes, bytes]:
        """(dataSignature, ciphertext) for an outgoing payload."""
        if salted:
            signature = salted_mac_signature(self.keys.mac_key, plaintext, self._encrypt.count)
        else:
            signature = mac_signature(self.keys.mac_key, plaintext)
        return signature, self._encrypt.process(plaintext)

    def unprotect(self, signature: bytes, ciphertext: bytes, *, salted: bool = False) -> bytes:
        """Decrypt an incoming payload and check its dataSignature.

        :raises MacMismatchError: the signature does not match (the packet still counts:
            the RC4 state has moved on, as it has on the sender's side)
        """
        count = self._decrypt.count
        plaintext = self._decrypt.process(ciphertext)
        if salted:
            expected = salted_mac_signature(self.keys.mac_key, plaintext, count)
        else:
            expected = mac_signature(self.keys.mac_key, plaintext)
        if expected != signature:
            raise MacMismatchError("dataSignature does not match the decrypted data")
        return plaintext
