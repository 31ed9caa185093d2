"""Fixtures and Hypothesis strategies for pdu.licensing: the MS-RDPELE section 4 examples of
tests/data/rdpele, and generators of every structure (shared by the licensing tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from rdplic.pdu.licensing import (
    ClientHardwareId,
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    KeyExchangeList,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    LicensingPdu,
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
)

__all__ = [
    "RDPELE",
    "RDPELE_PDUS",
    "example",
    "hwids",
    "license_infos",
    "messages",
    "pdus",
    "responses",
]

RDPELE = Path(__file__).resolve().parent.parent / "data" / "rdpele"

RDPELE_PDUS = sorted(
    path.name
    for path in RDPELE.glob("*.hex")
    if not path.name.endswith("-decrypted.hex") and "frame" not in path.name
)
"""The file names of the whole licensing PDUs among the examples (not the decrypted
fields, not the framed valid-client PDU)."""


def example(name: str) -> bytes:
    """The bytes of one example file of tests/data/rdpele (hex, whitespace ignored)."""
    return bytes.fromhex((RDPELE / name).read_text())


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

messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(ServerLicenseRequest, randoms, product_infos, key_exchange_lists, blobs, scope_lists),
    st.builds(ClientNewLicenseRequest, u32, u32, randoms, blobs, text_blobs, text_blobs),
    st.builds(ClientLicenseInfo, u32, u32, randoms, blobs, blobs, blobs, macs),
    st.builds(ServerPlatformChallenge, u32, blobs, macs),
    st.builds(ClientPlatformChallengeResponse, blobs, blobs, macs),
    st.builds(ServerNewLicense, blobs, macs),
    st.builds(ServerUpgradeLicense, blobs, macs),
    st.builds(LicenseErrorMessage, u32, u32, blobs),
)

pdus = st.builds(
    LicensingPdu,
    messages,
    version=st.integers(0, 15),
    flags=st.sampled_from([0x00, 0x80, 0x40, 0xF0]).map(PreambleFlags),
    msg_size=st.none() | u16,
)

hwids = st.builds(ClientHardwareId, u32, u32, u32, u32, u32)
responses = st.builds(PlatformChallengeResponseData, u16, u16, u16, small)
license_infos = st.builds(NewLicenseInfo, u32, small, small, small, st.binary(max_size=300))
