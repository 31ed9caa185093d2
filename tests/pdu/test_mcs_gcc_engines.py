"""The struct paths of the connection phase decode and encode exactly as the general ones.

Connect-Initial / Connect-Response are read and written as DER directly when they have no
layout, the PDUs of the channel connection phase are read and written with `struct`, and the
fixed-size parts of the settings blocks with `struct`: each is compared here, through the
``engine=`` switch, with the general BER reader and writer or the construct definitions it
short-cuts (``engine="construct"``), on valid and hostile bytes.
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

from rdplic.pdu import ENGINES, gcc, mcs
from rdplic.pdu.errors import PduError
from rdplic.pdu.framing import enum_or_int

PROPERTY = settings(max_examples=200, deadline=None)


def both(call: Any, *args: Any) -> tuple[Any, Any]:
    """``call(*args)`` with ``engine="struct"``, and again with ``engine="construct"``."""
    return (
        outcome(lambda *a: call(*a, engine="struct"), *args),
        outcome(lambda *a: call(*a, engine="construct"), *args),
    )


wide_parameters = (
    st.builds(mcs.DomainParameters, *([st.integers(0, 2**66)] * 8)) | domain_parameters
)


@PROPERTY
@given(connect_initials(), wide_parameters)
def test_connect_initial_der_is_the_writer(pdu: mcs.McsConnectInitial, wide: Any) -> None:
    """Without a layout, Connect-Initial is written as the BER writer writes it (or refused
    alike when an INTEGER needs more than 8 octets)."""
    for candidate in (pdu, dataclasses.replace(pdu, target_parameters=wide)):
        struct_path, construct_path = both(mcs.encode_mcs_connect_initial, candidate)
        assert struct_path == construct_path


@PROPERTY
@given(connect_responses, wide_parameters, st.integers(0, 2**70))
def test_connect_response_der_is_the_writer(
    pdu: mcs.McsConnectResponse, wide: Any, connect_id: int
) -> None:
    """Without a layout, Connect-Response is written as the BER writer writes it."""
    for candidate in (pdu, dataclasses.replace(pdu, domain_parameters=wide)):
        candidate = dataclasses.replace(candidate, called_connect_id=connect_id)
        struct_path, construct_path = both(mcs.encode_mcs_connect_response, candidate)
        assert struct_path == construct_path


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
    for engine in ENGINES:
        with pytest.raises(PduError, match="bad INTEGER size"):
            mcs.decode_mcs_connect_response(_CONNECT_SEEDS[1], engine=engine)


@PROPERTY
@given(hostile(_CONNECT_SEEDS))
def test_connect_decoding_with_and_without_der(data: bytes) -> None:
    """Decoding with the DER reader and comparison gives the same value, layout or error as
    decoding with the general BER reader and the writer's sizes."""
    for decode in (mcs.decode_mcs_connect_initial, mcs.decode_mcs_connect_response):
        struct_path, construct_path = both(decode, data)
        assert struct_path == construct_path


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
    struct_path, construct_path = both(mcs.decode_domain_pdu, data)
    assert struct_path == construct_path


results = st.integers(-2, 20).map(lambda v: enum_or_int(mcs.McsResult, v))
maybe_u16 = st.none() | st.integers(-1, 0x10001)


@PROPERTY
@given(
    st.builds(mcs.AttachUserConfirm, results, st.none() | user_ids)
    | st.builds(mcs.ChannelJoinConfirm, user_ids, st.integers(-1, 0x10001), maybe_u16, results)
)
def test_confirms_encode_as_construct_does(pdu: Any) -> None:
    """Attach User / Channel Join Confirm: the same bytes, or the same PduError for values
    that do not fit, as the construct definitions give."""
    struct_path, construct_path = both(mcs.encode_domain_pdu, pdu)
    assert struct_path == construct_path


def block(block_type: int, body: bytes) -> bytes:
    """``body`` with its TS_UD_HEADER (MS-RDPBCGR 2.2.1.3.1)."""
    return block_type.to_bytes(2, "little") + (len(body) + 4).to_bytes(2, "little") + body


@PROPERTY
@given(st.binary(min_size=128, max_size=300))
def test_client_core_struct_decode_is_construct_decode(body: bytes) -> None:
    """TS_UD_CS_CORE of any length read with struct equals the construct reading."""
    data = block(gcc.UserDataType.CS_CORE, body)
    struct_path = gcc.decode_client_blocks(data, engine="struct")
    assert struct_path == gcc.decode_client_blocks(data, engine="construct")


@PROPERTY
@given(st.binary(max_size=12))
def test_server_core_tail_is_parse_optional_tail(body: bytes) -> None:
    """The optional fields of TS_UD_SC_CORE: same values and leftover as parse_optional_tail."""
    data = block(gcc.UserDataType.SC_CORE, b"\x04\x00\x08\x00" + body)
    struct_path = gcc.decode_server_blocks(data, engine="struct")
    assert struct_path == gcc.decode_server_blocks(data, engine="construct")


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
    struct_path, construct_path = both(gcc.decode_client_blocks, data)
    assert struct_path == construct_path


@PROPERTY
@given(st.integers(-2, 10).map(lambda v: enum_or_int(mcs.Reason, v)))
def test_disconnect_ultimatum_encodes_as_construct_does(reason: Any) -> None:
    """Disconnect Provider Ultimatum: the construct bytes, or its PduError for a bad reason."""
    pdu = mcs.DisconnectProviderUltimatum(reason)
    struct_path, construct_path = both(mcs.encode_domain_pdu, pdu)
    assert struct_path == construct_path


u32ish = st.integers(-1, 2**32) | st.booleans()


@PROPERTY
@given(u32ish, u32ish, st.none() | st.binary(max_size=40), st.binary(max_size=40))
def test_server_security_and_core_encode_as_construct_does(
    method: Any, level: Any, random: bytes | None, certificate: bytes
) -> None:
    """SC_SEC1 and SC_CORE's version: the construct bytes, or a PduError alike."""
    security = gcc.ServerSecurityData(
        method, level, random, None if random is None else certificate
    )
    core = gcc.ServerCoreData(method)
    for blocks in ((security,), (core,)):
        struct_path, construct_path = both(gcc.encode_server_blocks, blocks)
        assert struct_path == construct_path


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
def test_client_core_encodes_as_construct_does(core: gcc.ClientCoreData, change: dict) -> None:
    """TS_UD_CS_CORE's fixed part: the construct bytes, or a PduError alike."""
    core = dataclasses.replace(core, **change)
    struct_path, construct_path = both(gcc.encode_client_blocks, (core,))
    assert struct_path == construct_path
