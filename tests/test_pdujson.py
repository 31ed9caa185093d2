"""rdplic.pdujson is generic: every PDU structure of pdu/ survives to_json, JSON text, from_json.

Bytes: every frame of the two Windows captures, as extracted in tests/data/windows/ (see its
README; captures/windows/ for their origin).  Each frame is decoded layer by layer with the
decoders of pdu.framing, pdu.mcs, pdu.gcc, pdu.rdp and pdu.licensing, and each decoded object
must come back from its JSON equal, and encode to the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rdplic.pdu import framing, gcc, mcs, rdp
from rdplic.pdu.certificates import (
    ServerCertificate,
    decode_server_certificate,
    encode_server_certificate,
)
from rdplic.pdu.licensing import LicensingPdu, decode_licensing_pdu, encode_licensing_pdu
from rdplic.pdujson import from_json, to_json

WINDOWS = Path(__file__).resolve().parent / "data" / "windows"
FRAMES = sorted(path.name for path in WINDOWS.glob("*.hex"))

SEC_EXCHANGE_PKT = 0x0001
SEC_ENCRYPT = 0x0008
SEC_INFO_PKT = 0x0040
SEC_LICENSE_PKT = 0x0080

Item = tuple[Any, Any, Callable[[Any], bytes], bytes]
"""(type hint for from_json, decoded object, encoder, the bytes it was decoded from)"""


def has_security_header(name: str) -> bool:
    """Whether the frame's MCS user data starts with a security header.

    With Standard RDP Security (stdsec) every PDU has one.  Over TLS only the Client Info and
    licensing PDUs do (MS-RDPBCGR 5.4): licensing ends with the valid-client PDU of frame 32.
    """
    if not name.startswith("tls-"):
        return True
    return int(name.split("-")[1].removeprefix("frame")) <= 32


def layers(frame: bytes, security: bool = True) -> list[Item]:
    """Every structure a frame holds, outermost first, with what rebuilds it."""
    if frame[0] & 0x03 == 0:
        return [
            (framing.FastPathPdu, framing.decode_fast_path(frame), framing.encode_fast_path, frame)
        ]
    tpkt = framing.decode_tpkt(frame)
    items: list[Item] = [(framing.Tpkt, tpkt, framing.encode_tpkt, frame)]
    tpdu = framing.decode_x224(tpkt.payload)
    items.append((framing.X224Tpdu, tpdu, framing.encode_x224, tpkt.payload))
    if not isinstance(tpdu, framing.X224Data):
        return items
    data = tpdu.payload
    pdu = mcs.decode_mcs_pdu(data)
    if isinstance(pdu, mcs.McsConnectInitial):
        items.append((mcs.McsConnectInitial, pdu, mcs.encode_mcs_connect_initial, data))
        request = gcc.decode_conference_create_request(pdu.user_data)
        items.append(
            (
                gcc.ConferenceCreateRequest,
                request,
                gcc.encode_conference_create_request,
                pdu.user_data,
            )
        )
        return items
    if isinstance(pdu, mcs.McsConnectResponse):
        items.append((mcs.McsConnectResponse, pdu, mcs.encode_mcs_connect_response, data))
        response = gcc.decode_conference_create_response(pdu.user_data)
        items.append(
            (
                gcc.ConferenceCreateResponse,
                response,
                gcc.encode_conference_create_response,
                pdu.user_data,
            )
        )
        for block in response.server_blocks:
            certificate = getattr(block, "server_certificate", None)
            if isinstance(certificate, bytes) and certificate:
                decoded = decode_server_certificate(certificate)
                items.append((ServerCertificate, decoded, encode_server_certificate, certificate))
        return items
    items.append((mcs.DomainMcsPdu, pdu, mcs.encode_domain_pdu, data))
    if not security or not isinstance(pdu, mcs.SendDataRequest | mcs.SendDataIndication):
        return items
    header, rest = rdp.decode_security_header(pdu.user_data)
    raw_header = pdu.user_data[: len(pdu.user_data) - len(rest)]
    items.append((rdp.SecurityHeader, header, rdp.encode_security_header, raw_header))
    flags = int(header.flags)
    if flags & SEC_ENCRYPT:
        return items
    if flags & SEC_EXCHANGE_PKT:
        exchange = rdp.decode_security_exchange(rest)
        items.append((rdp.SecurityExchange, exchange, rdp.encode_security_exchange, rest))
    elif flags & SEC_INFO_PKT:
        items.append((rdp.ClientInfo, rdp.decode_client_info(rest), rdp.encode_client_info, rest))
    elif flags & SEC_LICENSE_PKT:
        items.append((LicensingPdu, decode_licensing_pdu(rest), encode_licensing_pdu, rest))
    return items


@pytest.mark.parametrize("name", FRAMES)
def test_every_windows_structure_round_trips_through_json(name: str) -> None:
    """For each structure of each Windows frame: encode(from_json(to_json(x))) == its bytes."""
    frame = bytes.fromhex((WINDOWS / name).read_text())
    for hint, obj, encode, raw in layers(frame, has_security_header(name)):
        text = json.dumps(to_json(obj, hint))
        rebuilt = from_json(hint, json.loads(text))
        assert rebuilt == obj, type(obj).__name__
        assert encode(rebuilt) == raw, type(obj).__name__


def test_the_frames_cover_the_connection_sequence() -> None:
    """The Windows frames exercise X.224, MCS connect and domain PDUs, GCC, security headers,
    Client Info and licensing (so the generic codec is tested on all of them)."""
    seen: set[str] = set()
    for name in FRAMES:
        frame = bytes.fromhex((WINDOWS / name).read_text())
        seen.update(type(obj).__name__ for _, obj, _, _ in layers(frame, has_security_header(name)))
    expected = {
        "X224ConnectionRequest",
        "X224ConnectionConfirm",
        "McsConnectInitial",
        "McsConnectResponse",
        "ConferenceCreateRequest",
        "ConferenceCreateResponse",
        "SendDataRequest",
        "SendDataIndication",
        "SecurityHeader",
        "ClientInfo",
        "LicensingPdu",
    }
    assert expected <= seen, expected - seen
