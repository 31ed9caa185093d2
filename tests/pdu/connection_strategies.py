"""Fixtures and Hypothesis strategies for the connection-sequence PDUs (pdu.framing, pdu.mcs,
pdu.gcc, pdu.rdp): hex loaders for tests/data/bcgr and tests/data/windows, byte mutators, and
generators of every structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rdplic.pdu import framing, mcs
from rdplic.pdu.errors import PduError
from rdplic.testing.connection import *  # noqa: F403 (the strategies moved there)

DATA = Path(__file__).resolve().parent.parent / "data"
BCGR = DATA / "bcgr"
WINDOWS = DATA / "windows"
CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "windows"


def load_hex(path: Path) -> bytes:
    """The bytes of a .hex fixture (whitespace-separated hex, as the spec prints them)."""
    return bytes.fromhex(path.read_text(encoding="ascii"))


def bcgr(name: str) -> bytes:
    """A MS-RDPBCGR section 4 example from tests/data/bcgr."""
    return load_hex(BCGR / f"{name}.hex")


def windows(name: str) -> bytes:
    """A frame of a Windows capture from tests/data/windows."""
    return load_hex(WINDOWS / f"{name}.hex")


def windows_frames() -> list[tuple[str, bytes]]:
    """Every TPKT frame extracted from the Windows captures, by fixture name."""
    return [(path.stem, load_hex(path)) for path in sorted(WINDOWS.glob("*.hex"))]


def x224_payload(frame: bytes) -> bytes:
    """The X.224 Data payload of a TPKT frame (the MCS PDU)."""
    tpdu = framing.decode_x224(framing.decode_tpkt(frame).payload)
    assert isinstance(tpdu, framing.X224Data)
    return tpdu.payload


def send_data(frame: bytes) -> mcs.SendDataRequest | mcs.SendDataIndication:
    """The MCS Send Data PDU of a TPKT frame."""
    pdu = mcs.decode_domain_pdu(x224_payload(frame))
    assert isinstance(pdu, mcs.SendDataRequest | mcs.SendDataIndication)
    return pdu


def outcome(call: Any, *args: Any) -> Any:
    """The value, or the PduError's text: what a caller can observe (the struct and construct
    paths are compared by it)."""
    try:
        return call(*args)
    except PduError as error:
        return ("PduError", str(error))
