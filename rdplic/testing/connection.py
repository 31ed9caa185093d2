"""Hypothesis strategies for the connection-sequence PDUs (`rdplic.pdu.framing`, `.mcs`, `.gcc`,
`.rdp`): generators of every structure, valid as each encoder takes it, and byte mutators
(`mutated`, `hostile`) that turn examples into almost-valid input.

Installed with rdplic (``rdplic.testing.connection``); needs Hypothesis (``pip install
'rdplic[fuzz]'`` or ``hypothesis`` alone).  rdplic's own tests use them (tests/pdu).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from rdplic.pdu import framing, gcc, mcs, rdp

__all__ = [
    "client_blocks",
    "client_core_data",
    "client_infos",
    "conference_create_requests",
    "conference_create_responses",
    "connect_initials",
    "connect_responses",
    "connection_confirms",
    "connection_requests",
    "cookies",
    "demand_actives",
    "disconnect_requests",
    "domain_parameters",
    "domain_pdus",
    "enum_or_int",
    "erect_domain_requests",
    "extended_infos",
    "fast_path_pdus",
    "fixed",
    "flags",
    "hostile",
    "mutated",
    "normalise_gcc",
    "optional_prefix",
    "pdu_blocks",
    "s32",
    "security_exchanges",
    "security_headers",
    "send_data_pdus",
    "server_blocks",
    "server_core_data",
    "server_network_data",
    "server_security_data",
    "set_error_infos",
    "system_times",
    "time_zones",
    "tpkts",
    "trailing_for",
    "u8",
    "u16",
    "u32",
    "user_ids",
    "x224_data",
    "x224_tpdus",
]


# --------------------------------------------------------------------------------------------
# Bytes


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes changed, inserted, removed, or cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate")))
        if not data:
            data.append(draw(st.integers(0, 255)))
            continue
        index = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[index] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xC0, 0xFF)))
        elif action == "insert":
            data[index:index] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[index]
        else:
            del data[index:]
    return bytes(data)


def hostile(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, and seeds mutated."""
    return st.one_of(st.binary(max_size=96), mutated(seeds))


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
s32 = st.integers(-(2**31), 2**31 - 1)


def flags(kind: Any, bits: int) -> st.SearchStrategy[Any]:
    """An IntFlag value with any of ``bits`` bits set (unknown bits included)."""
    return st.integers(0, 2**bits - 1).map(kind)


def enum_or_int(kind: Any, bits: int) -> st.SearchStrategy[Any]:
    """A known member of an IntEnum, or any value of the field (decoded back as int)."""
    return st.integers(0, 2**bits - 1).map(lambda v: framing.enum_or_int(kind, v))


def fixed(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def optional_prefix(
    fields: list[tuple[str, st.SearchStrategy[Any]]],
) -> st.SearchStrategy[dict[str, Any]]:
    """Values for the first n optional fields (n drawn), None for the others."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        count = draw(st.integers(0, len(fields)))
        return {
            name: (draw(strategy) if index < count else None)
            for index, (name, strategy) in enumerate(fields)
        }

    return build()


def trailing_for(fields: list[tuple[str, int]], values: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Trailing bytes that cannot be read back as the first absent field (of minimum size)."""
    for name, size in fields:
        if values[name] is None:
            return st.binary(max_size=size - 1)
    return st.binary(max_size=6)


# --------------------------------------------------------------------------------------------
# pdu.framing

cookies = st.one_of(
    st.none(),
    st.binary(min_size=1, max_size=40).filter(
        lambda b: b"\r\n" not in b and b[0] != 0x01 and not b.endswith(b"\r")
    ),
    st.from_regex(rb"\ACookie: mstshash=[a-zA-Z0-9]{0,20}\Z", fullmatch=True),
)


@st.composite
def connection_requests(draw: st.DrawFn) -> framing.X224ConnectionRequest:
    neg = draw(
        st.none()
        | st.builds(
            framing.RdpNegotiationRequest,
            flags(framing.Protocol, 32),
            flags(framing.NegotiationRequestFlag, 8),
        )
    )
    correlation = None
    if neg is not None:
        correlation = draw(
            st.none() | st.builds(framing.RdpCorrelationInfo, fixed(16), u8, fixed(16))
        )
    return framing.X224ConnectionRequest(
        draw(cookies), neg, correlation, draw(u16), draw(u16), draw(u8), draw(st.integers(0, 15))
    )


connection_confirms = st.builds(
    framing.X224ConnectionConfirm,
    st.one_of(
        st.none(),
        st.builds(
            framing.RdpNegotiationResponse,
            flags(framing.Protocol, 32),
            flags(framing.NegotiationResponseFlag, 8),
        ),
        st.builds(
            framing.RdpNegotiationFailure,
            enum_or_int(framing.NegotiationFailureCode, 32),
            u8,
        ),
    ),
    u16,
    u16,
    u8,
    st.integers(0, 15),
)
disconnect_requests = st.builds(framing.X224DisconnectRequest, u8, u16, u16, st.binary(max_size=20))
x224_data = st.builds(framing.X224Data, st.binary(max_size=300), st.booleans())
x224_tpdus = st.one_of(connection_requests(), connection_confirms, disconnect_requests, x224_data)
tpkts = st.builds(framing.Tpkt, st.binary(min_size=3, max_size=300), u8)


@st.composite
def fast_path_pdus(draw: st.DrawFn) -> framing.FastPathPdu:
    payload = draw(st.binary(max_size=300))
    long_length = draw(st.booleans()) if len(payload) + 2 < 0x80 else False
    return framing.FastPathPdu(
        payload, draw(flags(framing.FastPathFlag, 2)), draw(st.integers(0, 15)), long_length
    )


# --------------------------------------------------------------------------------------------
# pdu.mcs

domain_parameters = st.builds(mcs.DomainParameters, *([u32] * 8))


@st.composite
def connect_initials(draw: st.DrawFn) -> mcs.McsConnectInitial:
    return mcs.McsConnectInitial(
        draw(domain_parameters),
        draw(domain_parameters),
        draw(domain_parameters),
        draw(st.binary(max_size=600)),
        draw(st.binary(max_size=3)),
        draw(st.binary(max_size=3)),
        draw(st.booleans()),
    )


connect_responses = st.builds(
    mcs.McsConnectResponse,
    domain_parameters,
    st.binary(max_size=600),
    enum_or_int(mcs.McsResult, 8),
    u32,
)

user_ids = st.integers(1001, 1001 + 0xFFFF)


@st.composite
def send_data_pdus(draw: st.DrawFn) -> mcs.SendDataRequest | mcs.SendDataIndication:
    cls = draw(st.sampled_from((mcs.SendDataRequest, mcs.SendDataIndication)))
    user_data = draw(st.binary(max_size=300))
    long_length = draw(st.booleans()) if len(user_data) < 0x80 else False
    return cls(  # type: ignore[return-value]
        draw(user_ids),
        draw(u16),
        user_data,
        draw(st.sampled_from(mcs.DataPriority)),
        draw(st.integers(0, 3).map(mcs.Segmentation)),
        long_length,
    )


erect_domain_requests = st.one_of(
    st.builds(
        mcs.ErectDomainRequest,
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.just(mcs.ErectDomainForm.PER),
    ),
    st.builds(mcs.ErectDomainRequest, u8, u16, st.just(mcs.ErectDomainForm.UINT16)),
)
domain_pdus = st.one_of(
    erect_domain_requests,
    st.just(mcs.AttachUserRequest()),
    st.builds(mcs.AttachUserConfirm, enum_or_int(mcs.McsResult, 4), st.none() | user_ids),
    st.builds(mcs.ChannelJoinRequest, user_ids, u16),
    st.builds(
        mcs.ChannelJoinConfirm, user_ids, u16, st.none() | u16, enum_or_int(mcs.McsResult, 4)
    ),
    send_data_pdus(),
    st.builds(mcs.DisconnectProviderUltimatum, enum_or_int(mcs.Reason, 3)),
)


# --------------------------------------------------------------------------------------------
# pdu.gcc

_CS_CORE_OPTIONAL: list[tuple[str, st.SearchStrategy[Any], int]] = [
    ("post_beta2_color_depth", enum_or_int(gcc.ColorDepth, 16), 2),
    ("client_product_id", u16, 2),
    ("serial_number", u32, 4),
    ("high_color_depth", enum_or_int(gcc.HighColorDepth, 16), 2),
    ("supported_color_depths", flags(gcc.SupportedColorDepth, 16), 2),
    ("early_capability_flags", flags(gcc.EarlyCapabilityFlag, 16), 2),
    ("client_dig_product_id", fixed(64), 64),
    ("connection_type", enum_or_int(gcc.ConnectionType, 8), 1),
    ("pad1octet", u8, 1),
    ("server_selected_protocol", flags(framing.Protocol, 32), 4),
    ("desktop_physical_width", u32, 4),
    ("desktop_physical_height", u32, 4),
    ("desktop_orientation", u16, 2),
    ("desktop_scale_factor", u32, 4),
    ("device_scale_factor", u32, 4),
]


@st.composite
def client_core_data(draw: st.DrawFn) -> gcc.ClientCoreData:
    values = draw(optional_prefix([(name, strategy) for name, strategy, _ in _CS_CORE_OPTIONAL]))
    trailing = draw(trailing_for([(name, size) for name, _, size in _CS_CORE_OPTIONAL], values))
    return gcc.ClientCoreData(
        draw(enum_or_int(gcc.RdpVersion, 32)),
        draw(u16),
        draw(u16),
        draw(enum_or_int(gcc.ColorDepth, 16)),
        draw(u16),
        draw(u32),
        draw(u32),
        draw(fixed(32)),
        draw(u32),
        draw(u32),
        draw(u32),
        draw(fixed(64)),
        trailing=trailing,
        **values,
    )


_CLIENT_KNOWN = {0xC001, 0xC002, 0xC003, 0xC004}
_SERVER_KNOWN = {0x0C01, 0x0C02, 0x0C03}

client_blocks = st.one_of(
    client_core_data(),
    st.builds(gcc.ClientSecurityData, flags(gcc.EncryptionMethod, 32), u32),
    st.builds(
        gcc.ClientNetworkData,
        st.lists(st.builds(gcc.ChannelDef, fixed(8), flags(gcc.ChannelOption, 32)), max_size=5).map(
            tuple
        ),
    ),
    st.builds(gcc.ClientClusterData, flags(gcc.ClusterFlag, 32), u32),
    st.builds(
        gcc.UnknownBlock,
        u16.filter(lambda t: t not in _CLIENT_KNOWN).map(
            lambda t: framing.enum_or_int(gcc.UserDataType, t)
        ),
        st.binary(max_size=40),
    ),
)


@st.composite
def server_core_data(draw: st.DrawFn) -> gcc.ServerCoreData:
    values = draw(
        optional_prefix(
            [
                ("client_requested_protocols", flags(framing.Protocol, 32)),
                ("early_capability_flags", flags(gcc.ServerEarlyCapabilityFlag, 32)),
            ]
        )
    )
    trailing = draw(
        trailing_for([("client_requested_protocols", 4), ("early_capability_flags", 4)], values)
    )
    return gcc.ServerCoreData(draw(enum_or_int(gcc.RdpVersion, 32)), trailing=trailing, **values)


@st.composite
def server_network_data(draw: st.DrawFn) -> gcc.ServerNetworkData:
    ids = tuple(draw(st.lists(u16, max_size=6)))
    default = b"\x00\x00" if len(ids) % 2 else b""
    padding = draw(st.none() | st.binary(max_size=2).filter(lambda p: p != default))
    return gcc.ServerNetworkData(draw(u16), ids, padding)


@st.composite
def server_security_data(draw: st.DrawFn) -> gcc.ServerSecurityData:
    method = draw(flags(gcc.EncryptionMethod, 32))
    level = draw(enum_or_int(gcc.EncryptionLevel, 32))
    if draw(st.booleans()):
        return gcc.ServerSecurityData(method, level)
    return gcc.ServerSecurityData(
        method, level, draw(st.binary(max_size=40)), draw(st.binary(max_size=200))
    )


server_blocks = st.one_of(
    server_core_data(),
    server_security_data(),
    server_network_data(),
    st.builds(
        gcc.UnknownBlock,
        u16.filter(lambda t: t not in _SERVER_KNOWN).map(
            lambda t: framing.enum_or_int(gcc.UserDataType, t)
        ),
        st.binary(max_size=40),
    ),
)


conference_create_requests = st.builds(
    gcc.ConferenceCreateRequest,
    st.lists(client_blocks, max_size=5).map(tuple),
    st.from_regex(rb"\A[0-9]{1,6}\Z", fullmatch=True),
    st.binary(min_size=4, max_size=8),
    st.none() | st.integers(0, 0x3FFF),
    st.booleans(),
    st.booleans(),
)
conference_create_responses = st.builds(
    gcc.ConferenceCreateResponse,
    st.lists(server_blocks, max_size=5).map(tuple),
    user_ids,
    s32,
    u8,
    st.binary(min_size=4, max_size=8),
    st.none() | st.integers(0, 0x3FFF),
    st.booleans(),
    st.booleans(),
)


def _per_length_at(data: bytes, offset: int) -> tuple[int, int]:
    first = data[offset]
    if first < 0x80:
        return first, 1
    return ((first & 0x3F) << 8) | data[offset + 1], 2


def normalise_gcc(pdu: Any, encoded: bytes) -> Any:
    """``pdu`` as decoding ``encoded`` gives it back: a connectPDU length equal to the real one
    becomes None, and a two-byte length form is only recorded for a length below 128."""
    sent, header = _per_length_at(encoded, 7)
    real = len(encoded) - 7 - header
    return dataclasses.replace(
        pdu,
        connect_pdu_length=None if sent == real else sent,
        connect_pdu_long_length=header == 2 and sent < 0x80,
        user_data_long_length=pdu.user_data_long_length and len(pdu_blocks(pdu)) < 0x80,
    )


def pdu_blocks(pdu: Any) -> bytes:
    if isinstance(pdu, gcc.ConferenceCreateRequest):
        return gcc.encode_client_blocks(pdu.client_blocks)
    return gcc.encode_server_blocks(pdu.server_blocks)


# --------------------------------------------------------------------------------------------
# pdu.rdp


@st.composite
def security_headers(draw: st.DrawFn) -> rdp.SecurityHeader:
    flag_value = draw(u16)
    if not flag_value & 0x0008:
        return rdp.SecurityHeader(rdp.SecurityFlag(flag_value), draw(u16))
    fips = draw(st.none() | u8)
    return rdp.SecurityHeader(rdp.SecurityFlag(flag_value), draw(u16), draw(fixed(8)), fips)


security_exchanges = st.builds(rdp.SecurityExchange, st.binary(max_size=300))
system_times = st.builds(rdp.SystemTime, *([u16] * 8))
time_zones = st.builds(
    rdp.TimeZoneInformation, s32, fixed(64), system_times, s32, fixed(64), system_times, s32
)
_EXTENDED_OPTIONAL: list[tuple[str, st.SearchStrategy[Any], int]] = [
    ("client_time_zone", time_zones, 172),
    ("client_session_id", u32, 4),
    ("performance_flags", flags(rdp.PerformanceFlag, 32), 4),
    ("auto_reconnect_cookie", st.binary(max_size=28), 2),
    ("reserved1", u16, 2),
    ("reserved2", u16, 2),
    ("dynamic_dst_time_zone_key_name", st.binary(max_size=64), 2),
    ("dynamic_daylight_time_disabled", u16, 2),
]


@st.composite
def extended_infos(draw: st.DrawFn) -> rdp.ExtendedInfo:
    values = draw(optional_prefix([(name, strategy) for name, strategy, _ in _EXTENDED_OPTIONAL]))
    trailing = draw(trailing_for([(name, size) for name, _, size in _EXTENDED_OPTIONAL], values))
    return rdp.ExtendedInfo(
        draw(enum_or_int(rdp.ClientAddressFamily, 16)),
        draw(st.binary(max_size=40)),
        draw(st.binary(max_size=80)),
        trailing=trailing,
        **values,
    )


@st.composite
def client_infos(draw: st.DrawFn) -> rdp.ClientInfo:
    info_flags = rdp.InfoFlag(draw(u32))
    nul = 2 if info_flags & rdp.InfoFlag.INFO_UNICODE else 1
    text = st.binary(max_size=30).map(lambda b: b + b"\x00" * nul)
    return rdp.ClientInfo(
        draw(u32),
        info_flags,
        draw(text),
        draw(text),
        draw(text),
        draw(text),
        draw(text),
        draw(st.none() | extended_infos()),
    )


set_error_infos = st.builds(
    rdp.SetErrorInfo,
    enum_or_int(rdp.ErrorInfo, 32),
    u16,
    u32,
    enum_or_int(rdp.StreamId, 8),
    u8,
    u8,
    u16,
    st.integers(0, 0xFFF).map(lambda v: v << 4),
    st.none() | u16.filter(lambda v: v != 8),
)
demand_actives = st.builds(
    rdp.DemandActive,
    u32,
    st.binary(max_size=12),
    st.lists(
        st.builds(
            rdp.CapabilitySet, enum_or_int(rdp.CapabilitySetType, 16), st.binary(max_size=30)
        ),
        max_size=6,
    ).map(tuple),
    u16,
    st.none() | u32,
    u16,
    st.integers(0, 0xFFF).map(lambda v: v << 4),
)
