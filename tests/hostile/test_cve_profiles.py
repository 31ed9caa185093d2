"""The CVE profiles whose lie sits in the connection sequence (the MCS Connect Response) or
in the License Request's certificate: each sends the shape its advisory describes, every
other length true, and the same bytes again for the same seed.

The Connect Responses are MS-RDPBCGR 4.1.4's (tests/data/bcgr, Standard RDP Security with a
proprietary certificate) and the same with SC_SECURITY as a server sends it under TLS
(method and level 0, no keys); the License Request is [MS-RDPELE] 4.1's (tests/data/rdpele).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rdplic.core.connection_common import send_data_frame
from rdplic.hostile import PROFILES, HostileConnection
from rdplic.hostile.connect import ConnectResponse
from rdplic.hostile.wire import LicensingFrame, fields
from rdplic.pdu.certificates import ProprietaryServerCertificate, decode_server_certificate
from rdplic.pdu.framing import tpkt_data_frame
from rdplic.pdu.gcc import (
    EncryptionLevel,
    EncryptionMethod,
    ServerSecurityData,
    encode_conference_create_response,
)
from rdplic.pdu.mcs import decode_mcs_connect_response, encode_mcs_connect_response

DATA = Path(__file__).resolve().parents[1] / "data"


def _hex(path: str) -> bytes:
    return bytes.fromhex("".join((DATA / path).read_text().split()))


RDP_RESPONSE = _hex("bcgr/4.1.4-server-mcs-connect-response.hex")
REQUEST = _hex("rdpele/4.1-server-license-request.hex")


def _tls_response() -> bytes:
    """4.1.4 with SC_SECURITY as under TLS: ENCRYPTION_METHOD_NONE, ENCRYPTION_LEVEL_NONE."""
    parsed = ConnectResponse.parse(RDP_RESPONSE)
    assert parsed is not None
    none = ServerSecurityData(
        EncryptionMethod.ENCRYPTION_METHOD_NONE, EncryptionLevel.ENCRYPTION_LEVEL_NONE
    )
    blocks = tuple(
        none if isinstance(b, ServerSecurityData) else b for b in parsed.gcc.server_blocks
    )
    user_data = encode_conference_create_response(
        dataclasses.replace(parsed.gcc, server_blocks=blocks)
    )
    mcs = dataclasses.replace(parsed.mcs, user_data=user_data, ber_layout=None)
    return tpkt_data_frame(encode_mcs_connect_response(mcs))


TLS_RESPONSE = _tls_response()
RESPONSES = {"rdp": RDP_RESPONSE, "tls": TLS_RESPONSE}


def _lie(profile: str, response: bytes, seed: int) -> tuple[bytes, list[str]]:
    connection = HostileConnection(PROFILES[profile], seed, 0)
    return connection.mutate(response), connection.session.mutations


def _tpkt_true(frame: bytes) -> None:
    assert int.from_bytes(frame[2:4], "big") == len(frame)


def _security_block(frame: bytes) -> bytes:
    """SC_SECURITY's body, found by walking the TS_UD_HEADERs after the H.221 key."""
    user_data = decode_mcs_connect_response(frame[7:]).user_data
    at = user_data.index(b"McDn") + 4
    at += 2 if user_data[at] & 0x80 else 1  # the PER length of the blocks
    while at < len(user_data):
        kind = int.from_bytes(user_data[at : at + 2], "little")
        size = int.from_bytes(user_data[at + 2 : at + 4], "little")
        if kind == 0x0C02:
            return user_data[at + 4 : at + size]
        at += size
    raise AssertionError("no SC_SECURITY")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


@pytest.mark.parametrize("security", ["rdp", "tls"])
@pytest.mark.parametrize("seed", range(6))
def test_cve_2018_20175_ber_length(security: str, seed: int) -> None:
    """cve-2018-20175: calledConnectId's or domainParameters' BER length is 2^31 or more
    (four octets), its content as it was; the Connect-Response and TPKT lengths true."""
    sent, notes = _lie("cve-2018-20175", RESPONSES[security], seed)
    _tpkt_true(sent)
    mcs = sent[7:]
    assert mcs[:2] == b"\x7f\x66"
    long_form = mcs[2] == 0x82
    content = mcs[5:] if long_form else mcs[3:]
    assert (int.from_bytes(mcs[3:5], "big") if long_form else mcs[2]) == len(content)
    assert content[:3] == b"\x0a\x01\x00"
    if content[4] == 0x84:  # calledConnectId
        assert content[3] == 0x02 and _u32(content[5:9][::-1], 0) >= 0x80000000
        assert content[9] == 0x00 and content[10] == 0x30
        assert notes[0].startswith("calledConnectId BER length")
    else:
        assert content[3:6] == b"\x02\x01\x00" and content[6:8] == b"\x30\x84"
        assert int.from_bytes(content[8:12], "big") >= 0x80000000
        assert notes[0].startswith("domainParameters BER length")
    original = RESPONSES[security]
    assert len(sent) == len(original) + 4 and sent[-60:] == original[-60:]


@pytest.mark.parametrize("security", ["rdp", "tls"])
@pytest.mark.parametrize("seed", range(4))
def test_cve_2018_20176_chain_certificate_length(security: str, seed: int) -> None:
    """cve-2018-20176: SC_SECURITY carries an X.509 chain of three or more whose first
    certificate's cbCert runs past the data; serverRandomLen and serverCertLen true."""
    sent, notes = _lie("cve-2018-20176", RESPONSES[security], seed)
    _tpkt_true(sent)
    parsed = ConnectResponse.parse(sent)
    assert parsed is not None and parsed.security is not None
    security_data = parsed.security
    assert security_data.encryption_method and security_data.encryption_level
    assert security_data.server_random is not None and len(security_data.server_random) == 32
    certificate = security_data.server_certificate
    assert certificate is not None
    assert _u32(certificate, 0) & 0x7FFFFFFF == 2  # CERT_CHAIN_VERSION_2
    assert 3 <= _u32(certificate, 4) <= 5  # NumCertBlobs
    assert _u32(certificate, 8) > len(certificate) - 12  # cbCert[0] past the data
    assert notes and "cbCert[0]" in notes[0]


@pytest.mark.parametrize("security", ["rdp", "tls"])
@pytest.mark.parametrize("seed", range(4))
def test_cve_2017_2837_lengths_wrap(security: str, seed: int) -> None:
    """cve-2017-2837: serverRandomLen and serverCertLen are each past SC_SECURITY's data
    and their 32-bit sum wraps to no more than it; the block and outer lengths true."""
    sent, notes = _lie("cve-2017-2837", RESPONSES[security], seed)
    _tpkt_true(sent)
    body = _security_block(sent)
    random_len, cert_len = _u32(body, 8), _u32(body, 12)
    data = len(body) - 16
    assert random_len > 0 and cert_len > data
    assert (random_len + cert_len) % 2**32 <= data < random_len + cert_len
    assert _u32(body, 0) and _u32(body, 4)  # a method and level: the client reads on
    assert notes and "serverCertLen" in notes[0]


@pytest.mark.parametrize("seed", range(6))
def test_cve_2020_13398_small_modulus(seed: int) -> None:
    """cve-2020-13398: the License Request's certificate is a proprietary one whose RSA
    modulus is under 22 bytes (2 * n + 4 < 48, the premaster secret); lengths true."""
    frame = send_data_frame(1002, 1003, b"\x80\x00\x00\x00" + REQUEST, server=True)
    sent, notes = _lie("cve-2020-13398", frame, seed)
    licensing = LicensingFrame.parse(sent)
    assert licensing is not None
    message = licensing.message
    assert int.from_bytes(message[2:4], "little") == len(message)
    blob = next(f for f in fields(message) if f.name == "ServerCertificate" and f.kind == "blob")
    certificate = decode_server_certificate(message[blob.offset + 4 : blob.offset + 4 + blob.size])
    body = certificate.certificate
    assert isinstance(body, ProprietaryServerCertificate)
    modulus = len(body.public_key.modulus) - 8
    assert 2 * modulus + 4 < 48 and body.public_key.bitlen == 8 * modulus
    assert [f.name for f in fields(message)][-2:] == ["ScopeCount", "Scope[0]"]  # rest intact
    assert notes == [f"ServerCertificate RSA modulus->{modulus} bytes"]


@pytest.mark.parametrize("profile", ["cve-2017-2837", "cve-2018-20175", "cve-2018-20176"])
def test_connection_profiles_leave_licensing_alone(profile: str) -> None:
    """A profile whose lie is in the Connect Response sends the licensing PDUs unchanged,
    and mutates nothing else than the Connect Response."""
    frame = send_data_frame(1002, 1003, b"\x80\x00\x00\x00" + REQUEST, server=True)
    connection = HostileConnection(PROFILES[profile], 0, 0)
    assert connection.mutate(frame) == frame
    assert connection.mutate_message(REQUEST) == [REQUEST]
    assert connection.mutate(RDP_RESPONSE) != RDP_RESPONSE
    assert len(connection.session.mutations) == 1


@pytest.mark.parametrize(
    "profile", ["cve-2017-2837", "cve-2018-20175", "cve-2018-20176", "cve-2020-13398"]
)
def test_same_seed_same_lie(profile: str) -> None:
    """The same profile, seed and connection number send the same bytes."""
    frame = send_data_frame(1002, 1003, b"\x80\x00\x00\x00" + REQUEST, server=True)
    for data in (RDP_RESPONSE, TLS_RESPONSE, frame):
        assert _lie(profile, data, 3) == _lie(profile, data, 3)
