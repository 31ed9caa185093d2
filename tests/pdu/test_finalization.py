"""Connection finalization bodies (MS-RDPBCGR 2.2.1.14-2.2.1.22): mstsc's own PDUs decode,
the server's encode as the spec lays them out, and malformed bodies raise PduError.

Known answers: frames 36-39 of the Windows TLS capture (`captures/windows/`, mstsc against a
Windows Server; decrypted with the secrets the capture embeds, see tests/data/windows/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rdplic.pdu.framing as framing
import rdplic.pdu.mcs as mcs
from rdplic.pdu.errors import PduError
from rdplic.pdu.finalization import (
    ControlAction,
    ControlPdu,
    FontListPdu,
    FontMapPdu,
    SynchronizePdu,
    decode_control,
    decode_font_list,
    decode_share_data_pdu,
    decode_synchronize,
    encode_control,
    encode_font_map,
    encode_synchronize,
)
from rdplic.pdu.rdp import PduType2

WINDOWS = Path(__file__).resolve().parents[1] / "data" / "windows"


def _share_data(frame: str) -> tuple[PduType2 | int, bytes]:
    """The share data PDU type and body of one of mstsc's frames."""
    raw = bytes.fromhex("".join((WINDOWS / f"{frame}.hex").read_text().split()))
    domain = mcs.decode_domain_pdu(framing.decode_x224(framing.decode_tpkt(raw).payload).payload)
    assert isinstance(domain, mcs.SendDataRequest)
    share = decode_share_data_pdu(domain.user_data)
    return share.pdu_type2, share.data


def test_mstsc_synchronize_names_the_server_channel() -> None:
    """mstsc's Client Synchronize PDU: SYNCMSGTYPE_SYNC, targetUser 1002 (the server)."""
    kind, body = _share_data("tls-frame36-c2s-decrypted")
    assert kind == PduType2.PDUTYPE2_SYNCHRONIZE
    assert decode_synchronize(body) == SynchronizePdu(target_user=1002, message_type=1)
    assert encode_synchronize(decode_synchronize(body)) == body


@pytest.mark.parametrize(
    ("frame", "action"),
    [
        ("tls-frame37-c2s-decrypted", ControlAction.CTRLACTION_COOPERATE),
        ("tls-frame38-c2s-decrypted", ControlAction.CTRLACTION_REQUEST_CONTROL),
    ],
)
def test_mstsc_control_pdus(frame: str, action: ControlAction) -> None:
    """mstsc's Control Cooperate and Request Control: zero grantId and controlId."""
    kind, body = _share_data(frame)
    assert kind == PduType2.PDUTYPE2_CONTROL
    decoded = decode_control(body)
    assert decoded == ControlPdu(action=action, grant_id=0, control_id=0)
    assert decoded.action is action
    assert encode_control(decoded) == body


def test_mstsc_font_list_is_empty() -> None:
    """mstsc's Font List: no entries, FONTLIST_FIRST | FONTLIST_LAST, entrySize 0x32."""
    kind, body = _share_data("tls-frame39-c2s-decrypted")
    assert kind == PduType2.PDUTYPE2_FONTLIST
    assert decode_font_list(body) == FontListPdu(0, 0, 0x0003, 0x32)


def test_server_granted_control_and_font_map_bytes() -> None:
    """Granted Control carries grantee and server id (2.2.1.21.1); the Font Map is 0,0,3,4."""
    granted = ControlPdu(ControlAction.CTRLACTION_GRANTED_CONTROL, grant_id=1007, control_id=1002)
    assert encode_control(granted) == bytes.fromhex("0200 ef03 ea030000")
    assert encode_font_map(FontMapPdu()) == bytes.fromhex("0000 0000 0300 0400")


def test_an_unknown_control_action_is_kept_as_a_number() -> None:
    """An action outside 2.2.1.15.1's list decodes to its integer and encodes back."""
    body = bytes.fromhex("0900 0000 00000000")
    assert decode_control(body).action == 9
    assert encode_control(decode_control(body)) == body


@pytest.mark.parametrize(
    ("decoder", "body"),
    [
        (decode_synchronize, bytes.fromhex("0100")),
        (decode_synchronize, bytes.fromhex("0100 ea03 00")),
        (decode_control, bytes.fromhex("0400 0000 0000")),
        (decode_font_list, bytes.fromhex("0000 0000 0300")),
    ],
)
def test_malformed_bodies_raise_pdu_error(decoder: object, body: bytes) -> None:
    """Short bodies, and trailing bytes after a fixed-size one, are PduError."""
    with pytest.raises(PduError):
        decoder(body)  # type: ignore[operator]
