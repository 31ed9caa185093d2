"""MCS Connect-Initial and Connect-Response ([T125] section 7 part 2 and sections 11.1,
11.2; MS-RDPBCGR 2.2.1.3 ``mcsCi`` and 2.2.1.4 ``mcsCrsp``), BER-encoded (`pdu.mcs._ber`).

Their ``userData`` holds the GCC Conference Create Request / Response (`pdu.gcc`).  Decoding
records the sizes a BER encoder chose in a `BerLayout` (None when they are what `encode_*`
writes by default, which is DER: the shortest length and the shortest two's-complement
INTEGER), so that what real encoders send re-encodes byte for byte.

Speed: both PDUs are on the path of every connection, and every client and Windows send
DER.  The struct path reads them as DER directly, without checks, and keeps the result only
if writing it as DER gives the input back (`_connect_initial_from_der`); it writes DER
directly when there is no layout (`_der_connect_initial`).  The general BER reader and
writer take everything else, report every error, and run alone with ``engine="construct"``
(construct has no BER: they are the reference here).
"""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import Callable
from typing import Any

from rdplic.pdu._types import Engine, check_engine, spec
from rdplic.pdu.errors import PduError, guarded
from rdplic.pdu.framing import enum_or_int
from rdplic.pdu.mcs._ber import (
    _MAX_INTEGER_OCTETS,
    TAG_BOOLEAN,
    TAG_CONNECT_INITIAL,
    TAG_CONNECT_RESPONSE,
    TAG_ENUMERATED,
    TAG_INTEGER,
    TAG_OCTET_STRING,
    TAG_SEQUENCE,
    BerLayout,
    _BerReader,
    _BerWriter,
    _der_element,
    _der_integer,
    _der_tlv,
    _integer_size,
    _NotDer,
)
from rdplic.pdu.mcs.constants import McsResult

__all__ = [
    "MAXIMUM_PARAMETERS",
    "MINIMUM_PARAMETERS",
    "TARGET_PARAMETERS",
    "BerLayout",
    "DomainParameters",
    "McsConnectInitial",
    "McsConnectResponse",
    "decode_mcs_connect_initial",
    "decode_mcs_connect_response",
    "encode_mcs_connect_initial",
    "encode_mcs_connect_response",
]


@dataclasses.dataclass(frozen=True, slots=True)
class DomainParameters:
    """T.125 DomainParameters."""

    max_channel_ids: int = spec("maxChannelIds")
    max_user_ids: int = spec("maxUserIds")
    max_token_ids: int = spec("maxTokenIds")
    num_priorities: int = spec("numPriorities")
    min_throughput: int = spec("minThroughput")
    max_height: int = spec("maxHeight")
    max_mcspdu_size: int = spec("maxMCSPDUsize")
    protocol_version: int = spec("protocolVersion")


TARGET_PARAMETERS = DomainParameters(34, 2, 0, 1, 0, 1, 0xFFFF, 2)
"""targetParameters of MS-RDPBCGR 3.2.5.3.3 (what mstsc sends)."""
MINIMUM_PARAMETERS = DomainParameters(1, 1, 1, 1, 0, 1, 0x420, 2)
"""minimumParameters of MS-RDPBCGR 3.2.5.3.3."""
MAXIMUM_PARAMETERS = DomainParameters(0xFFFF, 0xFC17, 0xFFFF, 1, 0, 1, 0xFFFF, 2)
"""maximumParameters as mstsc sends them (MS-RDPBCGR 4.1.3; maxUserIds 64535)."""

_DOMAIN_FIELDS = tuple(f.name for f in dataclasses.fields(DomainParameters))


def _read_domain_parameters(reader: _BerReader, field: str, end: int) -> DomainParameters:
    stop = reader.open(TAG_SEQUENCE, field, end)
    values = [reader.integer(TAG_INTEGER, f"{field}.{name}", stop) for name in _DOMAIN_FIELDS]
    reader.close(stop, field)
    return DomainParameters(*values)


def _write_domain_parameters(writer: _BerWriter, field: str, params: DomainParameters) -> bytes:
    def content() -> bytes:
        return b"".join(
            writer.integer(TAG_INTEGER, f"{field}.{name}", getattr(params, name))
            for name in _DOMAIN_FIELDS
        )

    return writer.tlv(TAG_SEQUENCE, field, content)


@dataclasses.dataclass(frozen=True, slots=True)
class McsConnectInitial:
    """T.125 Connect-Initial (MS-RDPBCGR 2.2.1.3 ``mcsCi``); user_data is the GCC PDU."""

    target_parameters: DomainParameters = spec("targetParameters")
    minimum_parameters: DomainParameters = spec("minimumParameters")
    maximum_parameters: DomainParameters = spec("maximumParameters")
    user_data: bytes = spec("userData")
    calling_domain_selector: bytes = spec("callingDomainSelector", default=b"\x01")
    called_domain_selector: bytes = spec("calledDomainSelector", default=b"\x01")
    upward_flag: bool = spec("upwardFlag", default=True)
    ber_layout: BerLayout | None = spec("berLayout", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class McsConnectResponse:
    """T.125 Connect-Response (MS-RDPBCGR 2.2.1.4 ``mcsCrsp``); user_data is the GCC PDU."""

    domain_parameters: DomainParameters = spec("domainParameters")
    user_data: bytes = spec("userData")
    result: McsResult | int = spec("result", default=McsResult.RT_SUCCESSFUL)
    called_connect_id: int = spec("calledConnectId", default=0)
    ber_layout: BerLayout | None = spec("berLayout", default=None)


def _write_connect_initial(pdu: McsConnectInitial, layout: BerLayout | None) -> tuple[bytes, Any]:
    writer = _BerWriter("MCS_CONNECT_INITIAL", layout)

    def content() -> bytes:
        return b"".join(
            (
                writer.tlv(TAG_OCTET_STRING, "callingDomainSelector", pdu.calling_domain_selector),
                writer.tlv(TAG_OCTET_STRING, "calledDomainSelector", pdu.called_domain_selector),
                writer.boolean(
                    "upwardFlag", pdu.upward_flag, layout.true_octet if layout else 0xFF
                ),
                _write_domain_parameters(writer, "targetParameters", pdu.target_parameters),
                _write_domain_parameters(writer, "minimumParameters", pdu.minimum_parameters),
                _write_domain_parameters(writer, "maximumParameters", pdu.maximum_parameters),
                writer.tlv(TAG_OCTET_STRING, "userData", pdu.user_data),
            )
        )

    encoded = writer.tlv(TAG_CONNECT_INITIAL, "Connect-Initial", content)
    writer.finish()
    return encoded, writer.sizes


def _write_connect_response(pdu: McsConnectResponse, layout: BerLayout | None) -> tuple[bytes, Any]:
    writer = _BerWriter("MCS_CONNECT_RESPONSE", layout)

    def content() -> bytes:
        return b"".join(
            (
                writer.integer(TAG_ENUMERATED, "result", int(pdu.result)),
                writer.integer(TAG_INTEGER, "calledConnectId", pdu.called_connect_id),
                _write_domain_parameters(writer, "domainParameters", pdu.domain_parameters),
                writer.tlv(TAG_OCTET_STRING, "userData", pdu.user_data),
            )
        )

    encoded = writer.tlv(TAG_CONNECT_RESPONSE, "Connect-Response", content)
    writer.finish()
    return encoded, writer.sizes


@functools.lru_cache(maxsize=64)
def _der_domain_parameters(params: DomainParameters) -> bytes:
    """DomainParameters as DER (cached: every client sends the same few sets)."""
    return _der_tlv(
        TAG_SEQUENCE,
        b"".join(_der_integer(TAG_INTEGER, getattr(params, name)) for name in _DOMAIN_FIELDS),
    )


def _der_connect_initial(pdu: McsConnectInitial) -> bytes | None:
    """What `_write_connect_initial` writes without a layout, for values it accepts as
    they are (non-negative INTEGERs of at most 8 octets); None for any other."""
    parameters = (pdu.target_parameters, pdu.minimum_parameters, pdu.maximum_parameters)
    if not all(_plain_parameters(p) for p in parameters):
        return None
    content = b"".join(
        (
            _der_tlv(TAG_OCTET_STRING, pdu.calling_domain_selector),
            _der_tlv(TAG_OCTET_STRING, pdu.called_domain_selector),
            TAG_BOOLEAN + (b"\x01\xff" if pdu.upward_flag else b"\x01\x00"),
            *(_der_domain_parameters(p) for p in parameters),
            _der_tlv(TAG_OCTET_STRING, pdu.user_data),
        )
    )
    return _der_tlv(TAG_CONNECT_INITIAL, content)


def _der_connect_response(pdu: McsConnectResponse) -> bytes | None:
    """What `_write_connect_response` writes without a layout (None: not plain values)."""
    result, connect_id = int(pdu.result), pdu.called_connect_id
    if not (_plain_parameters(pdu.domain_parameters) and _plain(result) and _plain(connect_id)):
        return None
    content = b"".join(
        (
            _der_integer(TAG_ENUMERATED, result),
            _der_integer(TAG_INTEGER, connect_id),
            _der_domain_parameters(pdu.domain_parameters),
            _der_tlv(TAG_OCTET_STRING, pdu.user_data),
        )
    )
    return _der_tlv(TAG_CONNECT_RESPONSE, content)


def _plain(value: int) -> bool:
    return value >= 0 and _integer_size(value) <= _MAX_INTEGER_OCTETS


@functools.lru_cache(maxsize=64)
def _plain_parameters(params: DomainParameters) -> bool:
    return all(_plain(getattr(params, name)) for name in _DOMAIN_FIELDS)


def _layout(reader: _BerReader, default_sizes: list[int]) -> BerLayout | None:
    if reader.sizes == default_sizes and reader.true_octet == 0xFF:
        return None
    return BerLayout(tuple(reader.sizes), reader.true_octet)


def _layout_of(
    reader: _BerReader, data: bytes, der: bytes | None, write: Callable[[], tuple[bytes, Any]]
) -> BerLayout | None:
    """The layout of what ``reader`` read from ``data``.

    None exactly when the sizes read are the ones the writer picks by default: when
    ``data`` is the DER encoding ``der`` of the decoded values (every size the shortest,
    TRUE as 0xFF).  Values `_der_*` does not write (``der`` None) go through ``write``,
    the writer without a layout, which also refuses them the same way.
    """
    if der is None:
        return _layout(reader, write()[1])
    if der == data:
        return None
    return BerLayout(tuple(reader.sizes), reader.true_octet)


def _read_der_domain_parameters(data: bytes, pos: int) -> tuple[DomainParameters, int]:
    """The DomainParameters SEQUENCE of eight INTEGERs at ``pos``, and where it ends (the
    DER readers below; unchecked, like `_der_element`)."""
    _, stop = _der_element(data, pos, 0x30)
    return _domain_parameters_from_der(data[pos:stop]), stop


@functools.lru_cache(maxsize=64)
def _domain_parameters_from_der(element: bytes) -> DomainParameters:
    """The eight INTEGERs of one DER DomainParameters SEQUENCE (cached by its bytes: every
    client sends the same few sets, and DomainParameters is immutable)."""
    start, _ = _der_element(element, 0, 0x30)
    values = []
    for _ in range(8):
        value_start, start = _der_element(element, start, 0x02)
        values.append(int.from_bytes(element[value_start:start], "big"))
    return DomainParameters(*values)


def _connect_initial_from_der(data: bytes) -> McsConnectInitial | None:
    """The Connect-Initial in ``data`` when ``data`` is its DER encoding, else None.

    Clients send DER (mstsc, FreeRDP, rdplic's own): the values are read without checks
    and kept only if writing them as DER gives ``data`` back, so the result is what
    `decode_mcs_connect_initial`'s general path gives (layout None) and anything else
    goes that way.
    """
    if len(data) < 3 or data[:2] != TAG_CONNECT_INITIAL:
        return None
    try:
        first = data[2]
        pos = 3 if first < 0x80 else 3 + (first & 0x7F)
        start, pos = _der_element(data, pos, 0x04)
        calling = data[start:pos]
        start, pos = _der_element(data, pos, 0x04)
        called = data[start:pos]
        start, pos = _der_element(data, pos, 0x01)
        upward = data[start:pos] != b"\x00"
        target, pos = _read_der_domain_parameters(data, pos)
        minimum, pos = _read_der_domain_parameters(data, pos)
        maximum, pos = _read_der_domain_parameters(data, pos)
        start, pos = _der_element(data, pos, 0x04)
        pdu = McsConnectInitial(target, minimum, maximum, data[start:pos], calling, called, upward)
    except _NotDer:
        return None
    return pdu if _der_connect_initial(pdu) == data else None


def decode_mcs_connect_initial(data: bytes, *, engine: Engine = "struct") -> McsConnectInitial:
    """Decode a Connect-Initial (the payload of the X.224 Data TPDU)."""
    if engine == "struct":
        pdu = _connect_initial_from_der(data)
        if pdu is not None:
            return pdu
    else:
        check_engine(engine)
    reader = _BerReader("MCS_CONNECT_INITIAL", data)

    def parse(_stream: io.BytesIO) -> McsConnectInitial:
        end = reader.open(TAG_CONNECT_INITIAL, "Connect-Initial", len(data))
        calling = reader.octets(TAG_OCTET_STRING, "callingDomainSelector", end)
        called = reader.octets(TAG_OCTET_STRING, "calledDomainSelector", end)
        upward = reader.boolean("upwardFlag", end)
        target = _read_domain_parameters(reader, "targetParameters", end)
        minimum = _read_domain_parameters(reader, "minimumParameters", end)
        maximum = _read_domain_parameters(reader, "maximumParameters", end)
        user_data = reader.octets(TAG_OCTET_STRING, "userData", end)
        reader.close(end, "Connect-Initial")
        if end != len(data):
            raise PduError(reader.structure, f"{len(data) - end} trailing bytes", offset=end)
        pdu = McsConnectInitial(target, minimum, maximum, user_data, calling, called, upward)
        der = _der_connect_initial(pdu) if engine == "struct" else None
        layout = _layout_of(reader, data, der, lambda: _write_connect_initial(pdu, None))
        return pdu if layout is None else dataclasses.replace(pdu, ber_layout=layout)

    return guarded("MCS_CONNECT_INITIAL", data, parse)


def encode_mcs_connect_initial(pdu: McsConnectInitial, *, engine: Engine = "struct") -> bytes:
    """Encode a Connect-Initial, with the sizes of ``pdu.ber_layout`` when it has one."""
    if engine == "struct":
        if pdu.ber_layout is None:
            der = _der_connect_initial(pdu)
            if der is not None:
                return der
    else:
        check_engine(engine)
    return _write_connect_initial(pdu, pdu.ber_layout)[0]


def _connect_response_from_der(data: bytes) -> McsConnectResponse | None:
    """The Connect-Response in ``data`` when ``data`` is its DER encoding (as Windows and
    rdplic send it), else None; see `_connect_initial_from_der`."""
    if len(data) < 3 or data[:2] != TAG_CONNECT_RESPONSE:
        return None
    try:
        first = data[2]
        pos = 3 if first < 0x80 else 3 + (first & 0x7F)
        start, pos = _der_element(data, pos, 0x0A)
        result = int.from_bytes(data[start:pos], "big")
        start, pos = _der_element(data, pos, 0x02)
        connect_id = int.from_bytes(data[start:pos], "big")
        parameters, pos = _read_der_domain_parameters(data, pos)
        start, pos = _der_element(data, pos, 0x04)
        pdu = McsConnectResponse(
            parameters,
            data[start:pos],
            enum_or_int(McsResult, result),
            connect_id,
        )
    except _NotDer:
        return None
    return pdu if _der_connect_response(pdu) == data else None


def decode_mcs_connect_response(data: bytes, *, engine: Engine = "struct") -> McsConnectResponse:
    """Decode a Connect-Response (the payload of the X.224 Data TPDU)."""
    if engine == "struct":
        pdu = _connect_response_from_der(data)
        if pdu is not None:
            return pdu
    else:
        check_engine(engine)
    reader = _BerReader("MCS_CONNECT_RESPONSE", data)

    def parse(_stream: io.BytesIO) -> McsConnectResponse:
        end = reader.open(TAG_CONNECT_RESPONSE, "Connect-Response", len(data))
        result = reader.integer(TAG_ENUMERATED, "result", end)
        connect_id = reader.integer(TAG_INTEGER, "calledConnectId", end)
        params = _read_domain_parameters(reader, "domainParameters", end)
        user_data = reader.octets(TAG_OCTET_STRING, "userData", end)
        reader.close(end, "Connect-Response")
        if end != len(data):
            raise PduError(reader.structure, f"{len(data) - end} trailing bytes", offset=end)
        pdu = McsConnectResponse(params, user_data, enum_or_int(McsResult, result), connect_id)
        der = _der_connect_response(pdu) if engine == "struct" else None
        layout = _layout_of(reader, data, der, lambda: _write_connect_response(pdu, None))
        return pdu if layout is None else dataclasses.replace(pdu, ber_layout=layout)

    return guarded("MCS_CONNECT_RESPONSE", data, parse)


def encode_mcs_connect_response(pdu: McsConnectResponse, *, engine: Engine = "struct") -> bytes:
    """Encode a Connect-Response, with the sizes of ``pdu.ber_layout`` when it has one."""
    if engine == "struct":
        if pdu.ber_layout is None:
            der = _der_connect_response(pdu)
            if der is not None:
                return der
    else:
        check_engine(engine)
    return _write_connect_response(pdu, pdu.ber_layout)[0]
