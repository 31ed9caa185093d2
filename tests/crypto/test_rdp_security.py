"""Standard RDP Security: session keys, RC4 key updates and MACs (MS-RDPBCGR 5.3)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto.rdp_security import (
    KEY_UPDATE_INTERVAL,
    EncryptionLevel,
    EncryptionMethod,
    MacMismatchError,
    Rc4Stream,
    RdpCipher,
    derive_session_keys,
    mac_signature,
    salted_mac_signature,
    select_encryption_method,
    update_key,
)
from rdplic.pdu.rdp import decode_client_info

CLIENT_RANDOM = bytes(range(32))
SERVER_RANDOM = bytes(range(0x80, 0xA0))
METHODS = (EncryptionMethod.BIT_40, EncryptionMethod.BIT_56, EncryptionMethod.BIT_128)


def _rc4(key: bytes, data: bytes) -> bytes:
    return Cipher(ARC4(key), mode=None).encryptor().update(data)


def _reference_blob(client_random: bytes, server_random: bytes) -> bytes:
    """SessionKeyBlob written out step by step from the MS-RDPBCGR 5.3.5.1 text."""

    def salted(secret: bytes, label: bytes) -> bytes:
        inner = hashlib.sha1(label + secret + client_random + server_random).digest()
        return hashlib.md5(secret + inner).digest()

    pre_master = client_random[:24] + server_random[:24]
    master = salted(pre_master, b"A") + salted(pre_master, b"BB") + salted(pre_master, b"CCC")
    return salted(master, b"X") + salted(master, b"YY") + salted(master, b"ZZZ")


def test_128bit_keys_follow_the_spec_formulas() -> None:
    """128-bit keys are First128Bits(blob) and FinalHash of its second and third parts (5.3.5.1)."""
    blob = _reference_blob(CLIENT_RANDOM, SERVER_RANDOM)
    keys = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, EncryptionMethod.BIT_128, server=True)
    assert keys.mac_key == blob[:16]
    assert keys.encrypt_key == hashlib.md5(blob[16:32] + CLIENT_RANDOM + SERVER_RANDOM).digest()
    assert keys.decrypt_key == hashlib.md5(blob[32:48] + CLIENT_RANDOM + SERVER_RANDOM).digest()


@pytest.mark.parametrize("method", METHODS)
def test_server_and_client_keys_mirror(method: EncryptionMethod) -> None:
    """What the server encrypts with, the client decrypts with, and the MAC key is shared."""
    server = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=True)
    client = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=False)
    assert server.encrypt_key == client.decrypt_key
    assert server.decrypt_key == client.encrypt_key
    assert server.mac_key == client.mac_key


def test_40_and_56_bit_keys_are_salted_64_bit_keys() -> None:
    """40-bit keys are 0xD1269E + 5 key bytes, 56-bit keys 0xD1 + 7 key bytes (5.3.5.1)."""
    full = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, EncryptionMethod.BIT_128, server=True)
    k40 = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, EncryptionMethod.BIT_40, server=True)
    k56 = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, EncryptionMethod.BIT_56, server=True)
    for weak, full_key in ((k40.mac_key, full.mac_key), (k40.encrypt_key, full.encrypt_key)):
        assert weak == b"\xd1\x26\x9e" + full_key[3:8]
    assert k56.decrypt_key == b"\xd1" + full.decrypt_key[1:8]
    assert len(k40.encrypt_key) == len(k56.encrypt_key) == 8


def test_derivation_refuses_bad_input() -> None:
    """Randoms are 32 bytes and FIPS / NONE have no RC4 keys."""
    with pytest.raises(ValueError):
        derive_session_keys(b"short", SERVER_RANDOM, EncryptionMethod.BIT_128, server=True)
    with pytest.raises(ValueError):
        derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, EncryptionMethod.FIPS, server=True)


def test_mac_signature_formula() -> None:
    """MACSignature = First64Bits(MD5(key + pad2 + SHA1(key + pad1 + len + data))) (5.3.6.1)."""
    key, data = b"k" * 16, b"some payload"
    sha = hashlib.sha1(key + b"\x36" * 40 + struct.pack("<I", len(data)) + data).digest()
    assert mac_signature(key, data) == hashlib.md5(key + b"\x5c" * 48 + sha).digest()[:8]


def test_salted_mac_appends_the_encryption_count() -> None:
    """The salted MAC adds the little-endian packet count to the SHA-1 input (5.3.6.1.1)."""
    key, data = b"k" * 16, b"payload"
    sha = hashlib.sha1(
        key + b"\x36" * 40 + struct.pack("<I", len(data)) + data + struct.pack("<I", 7)
    ).digest()
    assert salted_mac_signature(key, data, 7) == hashlib.md5(key + b"\x5c" * 48 + sha).digest()[:8]
    assert salted_mac_signature(key, data, 7) != salted_mac_signature(key, data, 8)


def test_rc4_stream_runs_on_across_packets() -> None:
    """The RC4 state continues from one packet to the next (no reset per packet)."""
    key = b"\x01" * 16
    stream = Rc4Stream(key, EncryptionMethod.BIT_128)
    parts = [stream.process(b"a" * 5), stream.process(b"b" * 7)]
    assert b"".join(parts) == _rc4(key, b"a" * 5 + b"b" * 7)
    assert stream.count == 2


@pytest.mark.parametrize("method", METHODS)
def test_key_update_after_4096_packets(method: EncryptionMethod) -> None:
    """Packet 4097 uses the updated key with a fresh RC4 state (5.3.7)."""
    keys = derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=True)
    stream = Rc4Stream(keys.encrypt_key, method)
    for _ in range(KEY_UPDATE_INTERVAL):
        stream.process(b"x")
    new_key = update_key(keys.encrypt_key, keys.encrypt_key, method)
    assert stream.process(b"hello") == _rc4(new_key, b"hello")
    assert stream.count == KEY_UPDATE_INTERVAL + 1
    assert len(new_key) == len(keys.encrypt_key)


def test_update_key_formula_128() -> None:
    """NewKey = RC4(TempKey, TempKey), TempKey = MD5(K0 + pad2 + SHA1(K0 + pad1 + Kn)) (5.3.7)."""
    initial, current = b"i" * 16, b"c" * 16
    sha = hashlib.sha1(initial + b"\x36" * 40 + current).digest()
    temp = hashlib.md5(initial + b"\x5c" * 48 + sha).digest()
    assert update_key(initial, current, EncryptionMethod.BIT_128) == _rc4(temp, temp)


def test_update_key_keeps_the_40_bit_salt() -> None:
    """An updated 40-bit key starts with 0xD1269E again (5.3.7)."""
    new = update_key(
        b"\xd1\x26\x9e" + b"12345", b"\xd1\x26\x9e" + b"67890", EncryptionMethod.BIT_40
    )
    assert new[:3] == b"\xd1\x26\x9e" and len(new) == 8


@settings(max_examples=50, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=64), min_size=1, max_size=8),
    method=st.sampled_from(METHODS),
    salted=st.booleans(),
)
def test_cipher_round_trip(payloads: list[bytes], method: EncryptionMethod, salted: bool) -> None:
    """What one side protects, the other side unprotects, packet after packet."""
    server = RdpCipher(derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=True))
    client = RdpCipher(derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=False))
    for payload in payloads:
        signature, ciphertext = client.protect(payload, salted=salted)
        assert server.unprotect(signature, ciphertext, salted=salted) == payload
        signature, ciphertext = server.protect(payload, salted=salted)
        assert client.unprotect(signature, ciphertext, salted=salted) == payload


def test_unprotect_detects_a_bad_signature() -> None:
    """A wrong dataSignature raises MacMismatchError."""
    method = EncryptionMethod.BIT_128
    server = RdpCipher(derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=True))
    client = RdpCipher(derive_session_keys(CLIENT_RANDOM, SERVER_RANDOM, method, server=False))
    signature, ciphertext = client.protect(b"payload")
    with pytest.raises(MacMismatchError):
        server.unprotect(bytes(8), ciphertext)
    del signature


@pytest.mark.parametrize(
    ("offered", "level", "expected"),
    [
        (0x1B, EncryptionLevel.CLIENT_COMPATIBLE, EncryptionMethod.BIT_128),
        (0x03, EncryptionLevel.CLIENT_COMPATIBLE, EncryptionMethod.BIT_128),
        (0x09, EncryptionLevel.CLIENT_COMPATIBLE, EncryptionMethod.BIT_56),
        (0x01, EncryptionLevel.CLIENT_COMPATIBLE, EncryptionMethod.BIT_40),
        (0x01, EncryptionLevel.HIGH, None),
        (0x10, EncryptionLevel.CLIENT_COMPATIBLE, None),
        (0x1B, EncryptionLevel.NONE, EncryptionMethod.NONE),
    ],
)
def test_method_selection(offered: int, level: EncryptionLevel, expected: object) -> None:
    """The server picks the strongest method offered; HIGH needs 128-bit (5.3.2)."""
    assert select_encryption_method(offered, level) == expected


_SESSIONS = json.loads(
    (Path(__file__).resolve().parents[1] / "data/rdp_security/xfreerdp-sessions.json").read_text()
)


@pytest.mark.parametrize("strength", ["40bit", "56bit", "128bit"])
def test_xfreerdp_client_info_decrypts_and_verifies(strength: str) -> None:
    """FreeRDP's encrypted, salted-MAC Client Info opens with our server keys (known answer
    from xfreerdp 2.11.7, tests/data/rdp_security/README.md)."""
    session = _SESSIONS[strength]
    method = EncryptionMethod(session["encryption_method"])
    keys = derive_session_keys(
        bytes.fromhex(session["client_random"]),
        bytes.fromhex(session["server_random"]),
        method,
        server=True,
    )
    user_data = bytes.fromhex(session["client_info_user_data"])
    flags = int.from_bytes(user_data[:2], "little")
    assert flags == 0x0848
    plaintext = RdpCipher(keys).unprotect(user_data[4:12], user_data[12:], salted=True)
    info = decode_client_info(plaintext)
    assert info.user_name == "labuser".encode("utf-16-le") + b"\0\0"
    assert info.password == "labpass".encode("utf-16-le") + b"\0\0"


@pytest.mark.parametrize("strength", ["40bit", "56bit", "128bit"])
def test_server_license_request_opens_on_the_client_side(strength: str) -> None:
    """The License Request xfreerdp accepted decrypts with the client's keys, MAC checked."""
    session = _SESSIONS[strength]
    keys = derive_session_keys(
        bytes.fromhex(session["client_random"]),
        bytes.fromhex(session["server_random"]),
        EncryptionMethod(session["encryption_method"]),
        server=False,
    )
    user_data = bytes.fromhex(session["license_request_user_data"])
    assert int.from_bytes(user_data[:2], "little") == 0x0288
    plaintext = RdpCipher(keys).unprotect(user_data[4:12], user_data[12:])
    assert plaintext[:2] == b"\x01\x03"  # LICENSE_REQUEST, PREAMBLE_VERSION_3_0
    assert int.from_bytes(plaintext[2:4], "little") == len(plaintext)
