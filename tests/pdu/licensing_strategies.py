"""Fixtures for pdu.licensing: the MS-RDPELE section 4 examples of tests/data/rdpele, and the
strategies of every structure (now installed as rdplic.testing.licensing, re-exported here)."""

from __future__ import annotations

from pathlib import Path

from rdplic.testing.licensing import hwids, license_infos, messages, pdus, responses

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
