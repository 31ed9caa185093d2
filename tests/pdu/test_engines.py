"""Every decoder and encoder with an ``engine=`` switch gives the same result on both engines.

``engine="struct"`` (the default: the struct path on the usual input, construct for the rest)
and ``engine="construct"`` (the construct definitions alone) are compared through the public
functions, with no private name patched:

* decoders (the list of `rdplic.fuzz.targets.DECODERS`), on every spec and capture example of
  tests/data (peeled layer by layer by `rdplic.fuzz.seeds`, from the TPKT frames down to the
  structure each one decodes) and on Hypothesis's random and mutated
  bytes seeded with them: the same value on both engines, or `PduError` on both;
* encoders, on the decoded examples (which also re-encode byte for byte on both engines), on
  generated objects, and on objects with one field of a wrong type or out of range: the same
  bytes on both engines, or the same failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from connection_strategies import (
    DATA,
    conference_create_requests,
    conference_create_responses,
    connect_initials,
    connect_responses,
    domain_pdus,
    enum_or_int,
    hostile,
    security_headers,
    set_error_infos,
    tpkts,
    u8,
    u16,
    u32,
    x224_tpdus,
)
from connection_strategies import client_blocks as client_block_objects
from connection_strategies import server_blocks as server_block_objects
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from licensing_strategies import hwids, license_infos, pdus, responses

from rdplic.fuzz import seeds
from rdplic.fuzz.targets import DECODERS as FUZZ_DECODERS
from rdplic.fuzz.targets import has_engines
from rdplic.pdu import framing, gcc, mcs, rdp
from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import (
    LicensingPdu,
    decode_client_hardware_id,
    decode_licensing_pdu,
    decode_new_license_info,
    decode_platform_challenge_response_data,
    encode_client_hardware_id,
    encode_licensing_message,
    encode_licensing_pdu,
    encode_new_license_info,
    encode_platform_challenge_response_data,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------
# The examples, layer by layer, and the decoders: both from rdplic.fuzz (one list of each)

CORPUS = seeds.load_seeds([DATA], machines=False)
"""The inputs of every layer found in tests/data, by layer name (`rdplic.fuzz.seeds` peels
the frames layer by layer, as it does for the fuzzer)."""
assert all(CORPUS[layer] for layer in ("frames", "tpdus", "mcs", "gcc", "blocks", "secured"))
assert all(CORPUS[layer] for layer in ("rdp", "licensing", "inner"))
assert (DATA / "windows").is_dir()

Decoder = Callable[..., Any]

DECODERS: dict[str, tuple[Decoder, str]] = {
    name: (decoder, layer)
    for name, (decoder, _, layer) in FUZZ_DECODERS.items()
    if has_engines(decoder)
}
"""Every decoder that takes ``engine=``, and the layer of the corpus it reads (the fuzz
targets' list, `rdplic.fuzz.targets.DECODERS`)."""


def decoded(call: Decoder, data: bytes, engine: str) -> Any:
    """The value, or None for `PduError` (any other exception fails the test)."""
    try:
        return ("value", call(data, engine=engine))
    except PduError:
        return None


def assert_decode_alike(call: Decoder, data: bytes) -> bool:
    """Both engines give the same value, or both raise `PduError`; True if they decoded."""
    struct_path = decoded(call, data, "struct")
    assert struct_path == decoded(call, data, "construct"), data.hex()
    return struct_path is not None


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_examples_decode_alike(name: str) -> None:
    """Every example of the decoder's layer: the same value or PduError on both engines (and
    at least one example decodes)."""
    call, layer = DECODERS[name]
    results = [assert_decode_alike(call, data) for data in CORPUS[layer]]
    assert any(results)


@pytest.mark.parametrize("name", sorted(DECODERS))
@PROPERTY
@given(data=st.data())
def test_hostile_bytes_decode_alike(name: str, data: st.DataObject) -> None:
    """Random bytes and mutated examples: the same value or PduError on both engines."""
    call, layer = DECODERS[name]
    assert_decode_alike(call, data.draw(hostile(CORPUS[layer])))


# --------------------------------------------------------------------------------------------
# Encoders


def _examples(decode: Decoder, layer: str) -> list[Any]:
    values = []
    for data in CORPUS[layer]:
        try:
            values.append(decode(data))
        except PduError:
            continue
    return values


share_data_pdus = st.builds(
    rdp.ShareDataPdu,
    enum_or_int(rdp.PduType2, 8),
    st.binary(max_size=40),
    u32,
    u16,
    enum_or_int(rdp.StreamId, 8),
    u8,
    u8,
    u16,
    st.integers(0, 0xFFF).map(lambda v: v << 4),
    st.none() | u16,
)

Encoder = Callable[..., bytes]

ENCODERS: dict[str, tuple[Encoder, st.SearchStrategy[Any], list[Any]]] = {
    "encode_tpkt": (
        framing.encode_tpkt,
        tpkts,
        _examples(framing.decode_tpkt, "frames"),
    ),
    "tpkt_data_frame": (
        framing.tpkt_data_frame,
        st.binary(max_size=300),
        CORPUS["mcs"],
    ),
    "encode_x224": (framing.encode_x224, x224_tpdus, _examples(framing.decode_x224, "tpdus")),
    "encode_mcs_connect_initial": (
        mcs.encode_mcs_connect_initial,
        connect_initials(),
        _examples(mcs.decode_mcs_connect_initial, "mcs"),
    ),
    "encode_mcs_connect_response": (
        mcs.encode_mcs_connect_response,
        connect_responses,
        _examples(mcs.decode_mcs_connect_response, "mcs"),
    ),
    "encode_domain_pdu": (
        mcs.encode_domain_pdu,
        domain_pdus,
        _examples(mcs.decode_domain_pdu, "mcs"),
    ),
    "encode_conference_create_request": (
        gcc.encode_conference_create_request,
        conference_create_requests,
        _examples(gcc.decode_conference_create_request, "gcc"),
    ),
    "encode_conference_create_response": (
        gcc.encode_conference_create_response,
        conference_create_responses,
        _examples(gcc.decode_conference_create_response, "gcc"),
    ),
    "encode_client_blocks": (
        gcc.encode_client_blocks,
        st.lists(client_block_objects, max_size=4).map(tuple),
        _examples(gcc.decode_client_blocks, "blocks"),
    ),
    "encode_server_blocks": (
        gcc.encode_server_blocks,
        st.lists(server_block_objects, max_size=4).map(tuple),
        _examples(gcc.decode_server_blocks, "blocks"),
    ),
    "encode_security_header": (
        rdp.encode_security_header,
        security_headers(),
        [header for header, _ in _examples(rdp.decode_security_header, "secured")],
    ),
    "encode_share_data_pdu": (rdp.encode_share_data_pdu, share_data_pdus, []),
    "encode_set_error_info": (rdp.encode_set_error_info, set_error_infos, []),
    "encode_licensing_pdu": (
        encode_licensing_pdu,
        pdus,
        _examples(decode_licensing_pdu, "licensing"),
    ),
    "encode_client_hardware_id": (
        encode_client_hardware_id,
        hwids,
        _examples(decode_client_hardware_id, "inner"),
    ),
    "encode_platform_challenge_response_data": (
        encode_platform_challenge_response_data,
        responses,
        _examples(decode_platform_challenge_response_data, "inner"),
    ),
    "encode_new_license_info": (
        encode_new_license_info,
        license_infos,
        _examples(decode_new_license_info, "inner"),
    ),
}
"""Every encoder that takes ``engine=`` (but the two object-free writers below): generated
objects, and the decoded examples (which must re-encode to their own bytes)."""


def encoded(call: Encoder, value: Any, engine: str) -> Any:
    """The bytes, or what the encoder raised (its type; the text for `PduError`)."""
    try:
        return call(value, engine=engine)
    except PduError as error:
        return ("PduError", str(error))
    except Exception as error:  # compared, not hidden: both engines must raise alike
        return (type(error).__name__,)


def assert_encode_alike(call: Encoder, value: Any) -> Any:
    struct_path = encoded(call, value, "struct")
    assert struct_path == encoded(call, value, "construct"), value
    return struct_path


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_examples_encode_alike(name: str) -> None:
    """Decoded examples re-encode to the same bytes on both engines."""
    call, _, examples = ENCODERS[name]
    for value in examples:
        assert isinstance(assert_encode_alike(call, value), bytes)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@PROPERTY
@given(data=st.data())
def test_generated_objects_encode_alike(name: str, data: st.DataObject) -> None:
    """Generated objects: the same bytes on both engines, or the same failure."""
    call, strategy, _ = ENCODERS[name]
    assert_encode_alike(call, data.draw(strategy))


BAD_VALUES = [None, -1, 0x100, 0x10000, 2**32, 2**64, "x", "x" * 8, 1.5, b"", bytes(9), True, ()]


def broken(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """``value`` with one field, maybe of a nested object, replaced by a bad value."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return data.draw(st.sampled_from(BAD_VALUES))
    fields = [f for f in dataclasses.fields(value) if f.init]
    if not fields:
        return value
    field = data.draw(st.sampled_from(fields))
    inner = getattr(value, field.name)
    if dataclasses.is_dataclass(inner) and depth < 3 and data.draw(st.booleans()):
        replacement = broken(data, inner, depth + 1)
    else:
        replacement = data.draw(st.sampled_from(BAD_VALUES))
    try:
        return dataclasses.replace(value, **{field.name: replacement})
    except TypeError:  # a class that checks its fields (LicensingPdu.message)
        reject()


@pytest.mark.parametrize("name", sorted(ENCODERS))
@PROPERTY
@given(data=st.data())
def test_broken_objects_encode_alike(name: str, data: st.DataObject) -> None:
    """One field of a wrong type or out of range: the same result on both engines."""
    call, strategy, _ = ENCODERS[name]
    value = data.draw(strategy)
    if isinstance(value, tuple) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        value = (*value[:index], broken(data, value[index]), *value[index + 1 :])
    else:
        value = broken(data, value)
    assert_encode_alike(call, value)


@PROPERTY
@given(security_headers(), st.data())
def test_security_header_bytes_alike(header: rdp.SecurityHeader, data: st.DataObject) -> None:
    """`security_header_bytes`, the object-free writer, gives the same on both engines."""
    flags_hi = data.draw(st.sampled_from([header.flags_hi, -1, 0x10000]))

    def write(signature: bytes | None, engine: str) -> bytes:
        return rdp.security_header_bytes(
            int(header.flags),
            signature,
            flags_hi,
            engine=engine,  # type: ignore[arg-type]
        )

    assert_encode_alike(write, header.data_signature)


@PROPERTY
@given(pdus)
def test_encode_licensing_message_alike(pdu: LicensingPdu) -> None:
    """`encode_licensing_message`, the object-free writer, gives the same on both engines."""

    def write(message: Any, engine: str) -> bytes:
        return encode_licensing_message(
            message,
            pdu.version,
            pdu.flags,
            engine=engine,  # type: ignore[arg-type]
        )

    assert_encode_alike(write, pdu.message)


def test_engine_names_are_checked() -> None:
    """A retired or misspelt engine name fails at once instead of picking an engine."""
    frame = CORPUS["frames"][0]
    for bad in ("fast", "reference", "STRUCT"):
        with pytest.raises(ValueError, match="engine must be one of"):
            framing.decode_tpkt(frame, engine=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="engine must be one of"):
            decode_licensing_pdu(CORPUS["licensing"][-1], engine=bad)  # type: ignore[arg-type]
