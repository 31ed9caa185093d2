"""Licensing key derivation, RC4 and MACData (MS-RDPELE 5.1).

Known answers come from IronRDP's tests (tests/data/crypto/ironrdp-*.json)
and the MS-RDPELE 4.4/4.5 examples (tests/data/rdpele/).
"""

from __future__ import annotations

import pytest
from crypto_vectors import CRYPTO, RDPELE, hex_file, json_file, new_license_info_license
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import (
    CryptoError,
    derive_licensing_keys,
    mac_data,
    master_secret,
    parse_license,
    rc4,
    session_key_blob,
    verify_mac,
)
from rdplic.crypto.licensing import _salted_hash

KEYS = json_file(CRYPTO / "ironrdp-licensing-keys.json")
VECTORS = json_file(CRYPTO / "ironrdp-rc4-mac-vectors.json")


def _b(name: str) -> bytes:
    return bytes.fromhex(KEYS[name])


def test_salted_hash_known_answer() -> None:
    """SaltedHash(premaster, 'A') matches IronRDP's salted_hash test value."""
    result = _salted_hash(_b("premaster_secret"), b"A", _b("client_random"), _b("server_random"))
    assert result == _b("salted_hash_a")


def test_master_secret_known_answer() -> None:
    """The master secret matches IronRDP's compute_master_secret test value."""
    assert master_secret(_b("premaster_secret"), _b("client_random"), _b("server_random")) == _b(
        "master_secret"
    )


def test_session_key_blob_known_answer() -> None:
    """The session key blob (randoms swapped) matches IronRDP's test value."""
    blob = session_key_blob(_b("master_secret"), _b("client_random"), _b("server_random"))
    assert blob == _b("session_key_blob")


def test_derive_licensing_keys_known_answer() -> None:
    """All four keys of one exchange: MAC salt = blob[0:16], licensing key matches IronRDP."""
    keys = derive_licensing_keys(_b("premaster_secret"), _b("client_random"), _b("server_random"))
    assert keys.master_secret == _b("master_secret")
    assert keys.session_key_blob == _b("session_key_blob")
    assert keys.mac_salt_key == _b("session_key_blob")[:16]
    assert keys.licensing_encryption_key == _b("licensing_encryption_key")


@pytest.mark.parametrize(
    ("premaster", "client", "server"),
    [(47, 32, 32), (48, 31, 32), (48, 32, 33), (0, 0, 0)],
)
def test_derive_rejects_wrong_sizes(premaster: int, client: int, server: int) -> None:
    """A premaster secret other than 48 bytes or randoms other than 32 raise CryptoError."""
    with pytest.raises(CryptoError):
        derive_licensing_keys(bytes(premaster), bytes(client), bytes(server))


def test_mac_data_known_answer() -> None:
    """MACData over UTF-16 "TEST" matches IronRDP's mac_data_computes_correctly."""
    vector = VECTORS["mac_only"]
    mac = mac_data(bytes.fromhex(vector["mac_salt_key"]), bytes.fromhex(vector["data"]))
    assert mac == bytes.fromhex(vector["mac_data"])


def test_platform_challenge_known_answer() -> None:
    """RC4 decrypts IronRDP's platform challenge to "TEST" and its MACData verifies."""
    vector = VECTORS["challenge"]
    plaintext = rc4(
        bytes.fromhex(vector["licensing_encryption_key"]),
        bytes.fromhex(vector["encrypted_platform_challenge"]),
    )
    assert plaintext == "TEST\0".encode("utf-16-le") == bytes.fromhex(vector["plaintext"])
    assert verify_mac(
        bytes.fromhex(vector["mac_salt_key"]), plaintext, bytes.fromhex(vector["mac_data"])
    )


def test_upgrade_license_known_answer() -> None:
    """A Windows Server 2019 Upgrade License decrypts, its MAC verifies, its license parses."""
    vector = VECTORS["upgrade_license"]
    encrypted = hex_file(CRYPTO / vector["encrypted_license_info"])
    info = rc4(bytes.fromhex(vector["licensing_encryption_key"]), encrypted)
    assert verify_mac(
        bytes.fromhex(vector["mac_salt_key"]), info, bytes.fromhex(vector["mac_data"])
    )
    assert info[:4] == bytes.fromhex("01000a00")  # dwVersion 0x000A0001
    assert parse_license(new_license_info_license(info)).client_machine_name == "ubuntu2"


def test_rc4_fresh_key_state_per_field_spec_45() -> None:
    """MS-RDPELE 4.5: response data and HWID were encrypted from keystream offset 0 each."""
    pdu = hex_file(RDPELE / "4.5-client-platform-challenge-response.hex")
    response = hex_file(RDPELE / "4.5-platform-challenge-response-data-decrypted.hex")
    hwid = hex_file(RDPELE / "4.5-client-hardware-id-decrypted.hex")
    encrypted_response = pdu[8 : 8 + len(response)]
    encrypted_hwid = pdu[8 + len(response) + 4 : 8 + len(response) + 4 + len(hwid)]
    stream1 = bytes(a ^ b for a, b in zip(encrypted_response, response, strict=True))
    stream2 = bytes(a ^ b for a, b in zip(encrypted_hwid, hwid, strict=True))
    assert stream1 == stream2[: len(stream1)]


def test_rc4_known_answer() -> None:
    """rc4 is RC4: the RFC 6229 test vector for the 40-bit key 0102030405."""
    out = rc4(bytes.fromhex("0102030405"), bytes(16))
    assert out == bytes.fromhex("b2396305f03dc027ccc3524a0a1118a8")


def test_rc4_rejects_bad_key() -> None:
    """An RC4 key of a size RC4 does not take (here 4 and 6 bytes) raises CryptoError."""
    for key in (b"1234", b"123456"):
        with pytest.raises(CryptoError):
            rc4(key, b"data")


def test_spec_46_license_matches_spec_43() -> None:
    """The license MS-RDPELE 4.6 delivers is the one 4.3 sends back (same pbLicenseInfo)."""
    from crypto_vectors import spec_43_license

    info = hex_file(RDPELE / "4.6-new-license-info-decrypted.hex")
    assert new_license_info_license(info) == spec_43_license()


keys16 = st.binary(min_size=16, max_size=16)


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from([5, 7, 8, 10, 16, 20, 24, 32]).flatmap(
        lambda n: st.binary(min_size=n, max_size=n)
    ),
    data=st.binary(max_size=512),
)
def test_rc4_round_trip(key: bytes, data: bytes) -> None:
    """RC4 applied twice with the same key gives the data back, same length."""
    encrypted = rc4(key, data)
    assert len(encrypted) == len(data)
    assert rc4(key, encrypted) == data


@settings(max_examples=200, deadline=None)
@given(key=keys16, first=st.binary(max_size=64), second=st.binary(max_size=64))
def test_rc4_each_call_starts_at_offset_zero(key: bytes, first: bytes, second: bytes) -> None:
    """Each call restarts the keystream: encrypting a field never depends on an earlier one."""
    rc4(key, first)
    assert rc4(key, second) == rc4(key, second + first)[: len(second)]


@settings(max_examples=200, deadline=None)
@given(salt=keys16, data=st.binary(max_size=512))
def test_mac_verifies_its_own_output(salt: bytes, data: bytes) -> None:
    """verify_mac accepts the MACData mac_data computes, which is 16 bytes."""
    mac = mac_data(salt, data)
    assert len(mac) == 16
    assert verify_mac(salt, data, mac)


@settings(max_examples=200, deadline=None)
@given(salt=keys16, data=st.binary(min_size=1, max_size=256), data_=st.data())
def test_mac_detects_any_changed_byte(salt: bytes, data: bytes, data_: st.DataObject) -> None:
    """Changing any byte of the data, or of the MAC, makes verification fail."""
    mac = mac_data(salt, data)
    index = data_.draw(st.integers(0, len(data) - 1))
    flip = data_.draw(st.integers(1, 255))
    changed = bytearray(data)
    changed[index] ^= flip
    assert not verify_mac(salt, bytes(changed), mac)
    mac_index = data_.draw(st.integers(0, 15))
    bad_mac = bytearray(mac)
    bad_mac[mac_index] ^= flip
    assert not verify_mac(salt, data, bytes(bad_mac))


@settings(max_examples=100, deadline=None)
@given(salt=keys16, data=st.binary(max_size=64))
def test_mac_covers_the_length(salt: bytes, data: bytes) -> None:
    """Appending a zero byte changes the MAC (the length is hashed in)."""
    assert mac_data(salt, data) != mac_data(salt, data + b"\x00")
