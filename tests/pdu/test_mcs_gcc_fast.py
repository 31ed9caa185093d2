"""The fast paths of the connection phase decode and encode exactly as the general ones.

Connect-Initial / Connect-Response are written as DER directly (`pdu.mcs._der_*`) when
they have no layout, the PDUs of the channel connection phase are read and written with
`struct`, and the fixed-size client settings blocks with `struct`: each is compared here
with the BER writer or the construct definitions it short-cuts, on valid and hostile bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from connection_strategies import (
    client_core_data,
    connect_initials,
    connect_responses,
    domain_parameters,
    hostile,
    outcome,
    user_ids,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pdu import gcc, mcs
from pdu.errors import PduError
from pdu.framing import build_checked, enum_or_int, parse_exact, parse_optional_tail

PROPERTY = settings(max_examples=200, deadline=None)


def general(module: Any, name: str, value: Any) -> Any:
    """A context in which ``module.name`` is ``value`` (the fast path switched off)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(module, name, value)
    return patch


wide_parameters = (
    st.builds(mcs.DomainParameters, *([st.integers(0, 2**66)] * 8)) | domain_parameters
)


@PROPERTY
@given(connect_initials(), wide_parameters)
def test_connect_initial_der_is_the_writer(pdu: mcs.McsConnectInitial, wide: Any) -> None:
    """Without a layout, Connect-Initial is written as the BER writer writes it (or refused
    alike when an INTEGER needs more than 8 octets)."""
    for candidate in (pdu, dataclasses.replace(pdu, target_parameters=wide)):
        expected = outcome(lambda p: mcs._write_connect_initial(p, None)[0], candidate)
        assert outcome(mcs.encode_mcs_connect_initial, candidate) == expected


@PROPERTY
@given(connect_responses, wide_parameters, st.integers(0, 2**70))
def test_connect_response_der_is_the_writer(
    pdu: mcs.McsConnectResponse, wide: Any, connect_id: int
) -> None:
    """Without a layout, Connect-Response is written as the BER writer writes it."""
    for candidate in (pdu, dataclasses.replace(pdu, domain_parameters=wide)):
        candidate = dataclasses.replace(candidate, called_connect_id=connect_id)
        expected = outcome(lambda p: mcs._write_connect_response(p, None)[0], candidate)
        assert outcome(mcs.encode_mcs_connect_response, candidate) == expected


_CONNECT_SEEDS = [
    mcs.encode_mcs_connect_initial(
        mcs.McsConnectInitial(
            mcs.TARGET_PARAMETERS, mcs.MINIMUM_PARAMETERS, mcs.MAXIMUM_PARAMETERS, b"\x00" * 40
        )
    ),
    # calledConnectId of 8 octets >= 2**63, which the writer refuses to write back as DER
    mcs.encode_mcs_connect_response(
        mcs.McsConnectResponse(
            mcs.TARGET_PARAMETERS, b"\x00" * 40, called_connect_id=0x4142434445464748
        )
    ).replace(bytes.fromhex("4142434445464748"), b"\xff" * 8),
]


def test_a_connect_id_the_writer_refuses_is_refused_alike() -> None:
    """An 8-octet calledConnectId >= 2**63 is refused by decoding, as before the DER path."""
    with pytest.raises(PduError, match="bad INTEGER size"):
        mcs.decode_mcs_connect_response(_CONNECT_SEEDS[1])


@PROPERTY
@given(hostile(_CONNECT_SEEDS))
def test_connect_decoding_with_and_without_der(data: bytes) -> None:
    """Decoding with the DER comparison gives the same value, layout or error as decoding
    with the writer's sizes."""
    fast = (
        outcome(mcs.decode_mcs_connect_initial, data),
        outcome(mcs.decode_mcs_connect_response, data),
    )
    patch = general(mcs, "_der_connect_initial", lambda pdu: None)
    patch.setattr(mcs, "_der_connect_response", lambda pdu: None)
    try:
        slow = (
            outcome(mcs.decode_mcs_connect_initial, data),
            outcome(mcs.decode_mcs_connect_response, data),
        )
    finally:
        patch.undo()
    assert fast == slow


_DOMAIN_SEEDS = [
    bytes.fromhex("38 00 06 03 eb"),  # Channel Join Request
    bytes.fromhex("28"),  # Attach User Request
    bytes.fromhex("04 01 00 01 00"),  # Erect Domain Request (PER)
    bytes.fromhex("3e 00 00 06 03 eb 03 eb"),  # Channel Join Confirm
    bytes.fromhex("3c 60 00 06 03 ec"),  # Channel Join Confirm, no channel
    bytes.fromhex("2e 00 00 06"),  # Attach User Confirm
    bytes.fromhex("2c 20"),  # Attach User Confirm, no initiator
]


@st.composite
def connection_like(draw: st.DrawFn) -> bytes:
    """Bytes that start like a connection-phase PDU, of any length near the real ones."""
    first = draw(st.sampled_from((0x04, 0x28, 0x38, 0x2C, 0x2D, 0x2E, 0x2F, 0x3C, 0x3D, 0x3E)))
    rest = draw(st.binary(max_size=9))
    if rest and draw(st.booleans()):  # zero padding bits after the result
        rest = bytes((rest[0] & 0xE0,)) + rest[1:]
    if len(rest) == 4 and draw(st.booleans()):  # one-octet PER integers
        rest = b"\x01" + rest[1:2] + b"\x01" + rest[3:]
    return bytes((first,)) + rest


@settings(max_examples=600, deadline=None)
@given(hostile(_DOMAIN_SEEDS) | connection_like())
def test_connection_pdus_decode_as_construct_does(data: bytes) -> None:
    """The struct path reads every domain PDU as the construct definitions do, and leaves
    to them whatever they refuse."""
    fast = outcome(mcs.decode_domain_pdu, data)
    patch = general(mcs, "_decode_connection_pdu", lambda data: None)
    try:
        slow = outcome(mcs.decode_domain_pdu, data)
    finally:
        patch.undo()
    assert fast == slow


def construct_confirm(pdu: Any) -> bytes:
    """Attach User / Channel Join Confirm built by the construct definitions."""
    if isinstance(pdu, mcs.AttachUserConfirm):
        user = pdu.initiator
        return build_checked(
            "AttachUserConfirm",
            mcs._ATTACH_USER_CONFIRM,
            {
                "header": {"initiatorPresent": user is not None, "result": int(pdu.result)},
                "initiator": None if user is None else user - 1001,
            },
        )
    return build_checked(
        "ChannelJoinConfirm",
        mcs._CHANNEL_JOIN_CONFIRM,
        {
            "header": {"channelIdPresent": pdu.channel_id is not None, "result": int(pdu.result)},
            "initiator": pdu.initiator - 1001,
            "requested": pdu.requested,
            "channelId": pdu.channel_id,
        },
    )


results = st.integers(-2, 20).map(lambda v: enum_or_int(mcs.McsResult, v))
maybe_u16 = st.none() | st.integers(-1, 0x10001)


@PROPERTY
@given(
    st.builds(mcs.AttachUserConfirm, results, st.none() | user_ids)
    | st.builds(mcs.ChannelJoinConfirm, user_ids, st.integers(-1, 0x10001), maybe_u16, results)
)
def test_confirms_encode_as_construct_does(pdu: Any) -> None:
    """Attach User / Channel Join Confirm: the same bytes, or a PduError for values that do
    not fit, as the construct definitions give."""
    assert isinstance(outcome(mcs.encode_domain_pdu, pdu), bytes) == isinstance(
        outcome(construct_confirm, pdu), bytes
    )
    if isinstance(outcome(construct_confirm, pdu), bytes):
        assert mcs.encode_domain_pdu(pdu) == construct_confirm(pdu)


def construct_cs_core(body: bytes) -> gcc.ClientCoreData:
    """TS_UD_CS_CORE decoded with the construct definitions (before the struct path)."""
    fixed = parse_exact("TS_UD_CS_CORE", gcc._CS_CORE_FIXED, body[: gcc._CS_CORE_FIXED_SIZE])
    values, trailing = parse_optional_tail(
        "TS_UD_CS_CORE", body[gcc._CS_CORE_FIXED_SIZE :], gcc._CS_CORE_OPTIONAL
    )
    for name, convert in gcc._CS_CORE_TYPES.items():
        if name in values:
            values[name] = convert(values[name])
    return gcc.ClientCoreData(
        enum_or_int(gcc.RdpVersion, fixed.version),
        fixed.desktopWidth,
        fixed.desktopHeight,
        enum_or_int(gcc.ColorDepth, fixed.colorDepth),
        fixed.SASSequence,
        fixed.keyboardLayout,
        fixed.clientBuild,
        fixed.clientName,
        fixed.keyboardType,
        fixed.keyboardSubType,
        fixed.keyboardFunctionKey,
        fixed.imeFileName,
        trailing=trailing,
        **values,
    )


@PROPERTY
@given(st.binary(min_size=128, max_size=300))
def test_client_core_struct_decode_is_construct_decode(body: bytes) -> None:
    """TS_UD_CS_CORE of any length read with struct equals the construct reading."""
    assert gcc._decode_cs_core(body) == construct_cs_core(body)


@PROPERTY
@given(st.binary(max_size=12))
def test_server_core_tail_is_parse_optional_tail(body: bytes) -> None:
    """The optional fields of TS_UD_SC_CORE: same values and leftover as parse_optional_tail."""
    assert gcc._optional_tail(
        "TS_UD_SC_CORE", body, gcc._SC_CORE_OPTIONAL, gcc._SC_CORE_OPTIONAL_FAST
    ) == parse_optional_tail("TS_UD_SC_CORE", body, gcc._SC_CORE_OPTIONAL)


def construct_blocks(data: bytes) -> Any:
    """Security, cluster and network blocks decoded with the construct definitions."""
    out: list[Any] = []
    for block_type, body in gcc._split_blocks("ClientData", data):
        if block_type == gcc.UserDataType.CS_SECURITY:
            sec = parse_exact("TS_UD_CS_SEC", gcc._CS_SECURITY, body)
            out.append(
                gcc.ClientSecurityData(
                    gcc.EncryptionMethod(sec.encryptionMethods), sec.extEncryptionMethods
                )
            )
        elif block_type == gcc.UserDataType.CS_CLUSTER:
            cluster = parse_exact("TS_UD_CS_CLUSTER", gcc._CS_CLUSTER, body)
            out.append(
                gcc.ClientClusterData(gcc.ClusterFlag(cluster.Flags), cluster.RedirectedSessionID)
            )
        else:
            if len(body) < 4 or len(body) != 4 + 12 * int.from_bytes(body[:4], "little"):
                return gcc.decode_client_blocks(data)  # the same length checks, not changed
            channels = []
            for offset in range(4, len(body), 12):
                item = parse_exact("CHANNEL_DEF", gcc._CHANNEL_DEF, body[offset : offset + 12])
                channels.append(gcc.ChannelDef(item.name, gcc.ChannelOption(item.options)))
            out.append(gcc.ClientNetworkData(tuple(channels)))
    return tuple(out)


@st.composite
def small_blocks(draw: st.DrawFn) -> bytes:
    block_type = draw(st.sampled_from((0xC002, 0xC003, 0xC004)))
    if block_type == 0xC003 and draw(st.booleans()):
        count = draw(st.integers(0, 4))
        body = count.to_bytes(4, "little") + draw(
            st.binary(min_size=12 * count, max_size=12 * count)
        )
    else:
        body = draw(st.binary(max_size=12))
    return block_type.to_bytes(2, "little") + (len(body) + 4).to_bytes(2, "little") + body


@PROPERTY
@given(st.lists(small_blocks(), max_size=3).map(b"".join))
def test_small_client_blocks_decode_as_construct_does(data: bytes) -> None:
    """Security, cluster and network blocks: the same values or the same PduError."""
    assert outcome(gcc.decode_client_blocks, data) == outcome(construct_blocks, data)


@PROPERTY
@given(st.integers(-2, 10).map(lambda v: enum_or_int(mcs.Reason, v)))
def test_disconnect_ultimatum_encodes_as_construct_does(reason: Any) -> None:
    """Disconnect Provider Ultimatum: the construct bytes, or its PduError for a bad reason."""
    pdu = mcs.DisconnectProviderUltimatum(reason)
    expected = outcome(
        build_checked,
        "DisconnectProviderUltimatum",
        mcs._DISCONNECT_PROVIDER_ULTIMATUM,
        {"reason": int(reason)},
    )
    assert outcome(mcs.encode_domain_pdu, pdu) == expected


def construct_sc_security(block: gcc.ServerSecurityData) -> bytes:
    """TS_UD_SC_SEC1 built by the construct definitions (before the struct path)."""
    head = build_checked(
        "TS_UD_SC_SEC1",
        gcc._SC_SECURITY_HEAD,
        {"encryptionMethod": block.encryption_method, "encryptionLevel": block.encryption_level},
    )
    if block.server_random is None:
        return head
    random, certificate = block.server_random, block.server_certificate or b""
    keys = build_checked(
        "TS_UD_SC_SEC1",
        gcc._SC_SECURITY_KEYS,
        {"serverRandomLen": len(random), "serverCertLen": len(certificate)},
    )
    return head + keys + random + certificate


u32ish = st.integers(-1, 2**32) | st.booleans()


@PROPERTY
@given(u32ish, u32ish, st.none() | st.binary(max_size=40), st.binary(max_size=40))
def test_server_security_and_core_encode_as_construct_does(
    method: Any, level: Any, random: bytes | None, certificate: bytes
) -> None:
    """SC_SEC1 and SC_CORE's version: the construct bytes, or a PduError alike."""
    block = gcc.ServerSecurityData(method, level, random, None if random is None else certificate)
    assert outcome(gcc._encode_sc_security, block) == outcome(construct_sc_security, block)
    core = gcc.ServerCoreData(method)
    expected = outcome(
        lambda: (
            build_checked("TS_UD_SC_CORE", gcc.Int32ul, method)
            + gcc.build_optional_tail("TS_UD_SC_CORE", core, gcc._SC_CORE_OPTIONAL, core.trailing)
        )
    )
    assert outcome(gcc._encode_sc_core, core) == expected


def construct_cs_core_fixed(block: gcc.ClientCoreData) -> bytes:
    """The fixed part of TS_UD_CS_CORE built by the construct definition."""
    fields = zip(gcc._CS_CORE_FIXED.subcons, gcc._CS_CORE_FIXED_FIELDS, strict=True)
    return build_checked(
        "TS_UD_CS_CORE",
        gcc._CS_CORE_FIXED,
        {con.name: getattr(block, name) for con, name in fields},
    )


@PROPERTY
@given(
    client_core_data(),
    st.sampled_from(
        [
            {},
            {"client_name": b"short"},
            {"ime_file_name": bytes(65)},
            {"desktop_width": -1},
            {"client_build": 2**32},
            {"keyboard_type": True},
            {"client_name": "text"},
        ]
    ),
)
def test_client_core_encodes_as_construct_does(block: gcc.ClientCoreData, change: dict) -> None:
    """TS_UD_CS_CORE's fixed part: the construct bytes, or a PduError alike."""
    block = dataclasses.replace(block, **change)
    assert outcome(gcc._pack_cs_core, block) in (None, outcome(construct_cs_core_fixed, block))
    tail = outcome(
        gcc.build_optional_tail, "TS_UD_CS_CORE", block, gcc._CS_CORE_OPTIONAL, block.trailing
    )
    fixed = outcome(construct_cs_core_fixed, block)
    expected = fixed + tail if isinstance(fixed, bytes) and isinstance(tail, bytes) else None
    result = outcome(gcc._encode_cs_core, block)
    if expected is None:
        assert not isinstance(result, bytes)
    else:
        assert result == expected
