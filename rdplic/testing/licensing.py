"""Hypothesis strategies for the licensing PDUs of `rdplic.pdu.licensing` ([MS-RDPBCGR]
2.2.1.12, [MS-RDPELE] 2.2.2): every message and the decrypted inner structures, valid (as the
encoders take them), and almost-valid wire bytes with one thing wrong.

Installed with rdplic (``rdplic.testing.licensing``); needs Hypothesis.  The almost-valid kinds
(`ALMOST_VALID_KINDS`) are the shapes behind real clients' licensing bugs: a bMsgType the spec
does not list, a wMsgSize or blob length that lies about the data, a blob type outside
BlobType, and an encrypted field too short for what it should hold (CVE-2020-11099's short
license info, CVE-2017-2839's challenge).
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st

from rdplic.pdu.licensing import (
    BlobType,
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    KeyExchangeList,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
    MsgType,
    NewLicenseInfo,
    PlatformChallengeResponseData,
    PreambleFlags,
    ProductInfo,
    Scope,
    ScopeList,
    ServerLicenseRequest,
    ServerNewLicense,
    ServerPlatformChallenge,
    ServerUpgradeLicense,
    TextBlob,
    encode_licensing_pdu,
)

__all__ = [
    "ALMOST_VALID_KINDS",
    "almost_valid_licensing_pdus",
    "blobs",
    "hwids",
    "license_infos",
    "licensing_pdu_bytes",
    "messages",
    "pdus",
    "responses",
    "server_messages",
]

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
small = st.binary(max_size=64)
blobs = st.builds(LicenseBinaryBlob, u16, st.binary(max_size=300))
text_blobs = st.builds(TextBlob, u16, small)
product_infos = st.builds(ProductInfo, u32, small, small)
key_exchange_lists = st.builds(KeyExchangeList, u16, st.lists(u32, max_size=4).map(tuple))
scope_lists = st.builds(ScopeList, st.lists(st.builds(Scope, u16, small), max_size=3).map(tuple))
randoms = st.binary(min_size=32, max_size=32)
macs = st.binary(min_size=16, max_size=16)

server_messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(ServerLicenseRequest, randoms, product_infos, key_exchange_lists, blobs, scope_lists),
    st.builds(ServerPlatformChallenge, u32, blobs, macs),
    st.builds(ServerNewLicense, blobs, macs),
    st.builds(ServerUpgradeLicense, blobs, macs),
    st.builds(LicenseErrorMessage, u32, u32, blobs),
)
"""Every message a server sends (MS-RDPELE 2.2.2.1, 2.2.2.4, 2.2.2.6, 2.2.2.7; the error)."""

messages: st.SearchStrategy[Any] = st.one_of(
    server_messages,
    st.builds(ClientNewLicenseRequest, u32, u32, randoms, blobs, text_blobs, text_blobs),
    st.builds(ClientLicenseInfo, u32, u32, randoms, blobs, blobs, blobs, macs),
    st.builds(ClientPlatformChallengeResponse, blobs, blobs, macs),
)
"""Every licensing message, either direction."""

pdus = st.builds(
    LicensingPdu,
    messages,
    version=st.integers(0, 15),
    flags=st.sampled_from([0x00, 0x80, 0x40, 0xF0]).map(PreambleFlags),
    msg_size=st.none() | u16,
)
"""Whole licensing PDUs (LICENSE_PREAMBLE and message), wMsgSize derived or overridden."""

licensing_pdu_bytes = pdus.map(encode_licensing_pdu)
"""Valid licensing PDUs as wire bytes (from LICENSE_PREAMBLE on)."""

hwids = st.builds(ClientHardwareId, u32, u32, u32, u32, u32)
responses = st.builds(PlatformChallengeResponseData, u16, u16, u16, small)
license_infos = st.builds(NewLicenseInfo, u32, small, small, small, st.binary(max_size=300))

ALMOST_VALID_KINDS = (
    "unknown-msg-type",
    "msg-size-lies",
    "blob-length-lies",
    "unknown-blob-type",
    "truncated-encrypted",
)
"""What `almost_valid_licensing_pdus` may get wrong, one thing per PDU."""

_FIRST_BLOB = {
    MsgType.PLATFORM_CHALLENGE: 8,
    MsgType.NEW_LICENSE: 4,
    MsgType.UPGRADE_LICENSE: 4,
    MsgType.PLATFORM_CHALLENGE_RESPONSE: 4,
    MsgType.ERROR_ALERT: 12,
    MsgType.LICENSE_INFO: 44,
    MsgType.NEW_LICENSE_REQUEST: 44,
}
"""Offset of the first LICENSE_BINARY_BLOB of each message with a fixed head (preamble included)."""

_ENCRYPTED = st.one_of(
    st.builds(
        ServerNewLicense, st.builds(LicenseBinaryBlob, st.just(9), st.binary(max_size=7)), macs
    ),
    st.builds(
        ServerUpgradeLicense, st.builds(LicenseBinaryBlob, st.just(9), st.binary(max_size=7)), macs
    ),
    st.builds(
        ServerPlatformChallenge,
        u32,
        st.builds(LicenseBinaryBlob, st.just(9), st.binary(max_size=1)),
        macs,
    ),
)


@st.composite
def _almost_valid(draw: st.DrawFn, kind: str) -> bytes:
    if kind == "truncated-encrypted":
        message = draw(_ENCRYPTED)
        return encode_licensing_pdu(LicensingPdu(message, version=3, flags=PreambleFlags(0x80)))
    pdu = draw(
        pdus.filter(
            lambda p: kind in ("unknown-msg-type", "msg-size-lies") or p.msg_type in _FIRST_BLOB
        )
    )
    data = bytearray(encode_licensing_pdu(pdu))
    if kind == "unknown-msg-type":
        data[0] = draw(st.integers(0, 255).filter(lambda v: v not in set(MsgType)))
    elif kind == "msg-size-lies":
        size = draw(u16.filter(lambda v: v != len(data)))
        struct.pack_into("<H", data, 2, size)
    else:
        offset = _FIRST_BLOB[MsgType(pdu.msg_type)]
        _, blob_len = struct.unpack_from("<HH", data, offset)
        if kind == "blob-length-lies":
            lie = draw(u16.filter(lambda v: v != blob_len))
            struct.pack_into("<H", data, offset + 2, lie)
        else:
            known = {int(t) for t in BlobType}
            struct.pack_into("<H", data, offset, draw(u16.filter(lambda v: v not in known)))
    return bytes(data)


def almost_valid_licensing_pdus(*kinds: str) -> st.SearchStrategy[bytes]:
    """Licensing PDU bytes with one thing wrong, of the given kinds (default: every kind of
    `ALMOST_VALID_KINDS`).  A receiver must answer each with its documented error (or accept
    it, as Windows' quirks allow for blob types and wMsgSize), never crash."""
    for kind in kinds:
        if kind not in ALMOST_VALID_KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(ALMOST_VALID_KINDS)}")
    return st.one_of(*(_almost_valid(kind) for kind in (kinds or ALMOST_VALID_KINDS)))
