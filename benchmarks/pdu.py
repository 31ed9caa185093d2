"""Decode/encode speed of the licensing PDUs, against a hand-written ``struct`` baseline.

Run: ``.venv/bin/python benchmarks/pdu.py`` (``--quick`` for fewer runs).

For every licensing message of MS-RDPELE section 4 (and the MS-RDPBCGR valid-client
PDU) it prints the median time per PDU of:

* ``decode``/``encode`` — `pdu.licensing` as the server uses it (``engine="struct"``,
  the struct code generated from the construct definitions);
* ``compiled`` — the same definitions through construct's own ``compile()``
  (`LICENSING_PDU.compile()`);
* ``construct`` — the plain, non-compiled construct definitions (``engine="construct"``);
* ``by hand`` — a hand-written parser/builder of the same bytes, written here only, that
  returns tuples and bytes instead of typed dataclasses (the floor for pure Python);

and the ratios to the baseline.  It then times the whole frame, TPKT down to the
licensing message (`pdu.framing`, `pdu.mcs`, `pdu.rdp`, `pdu.licensing`), for the bundled
MS-RDPELE 4.1 frame and for a Windows valid-client frame, against a hand-written parser of the
same frame.  Target: a whole frame under 15 us and within 8x of the baseline.

Figures are printed, never asserted: timing depends on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdplic.pdu.framing import decode_tpkt, decode_x224  # noqa: E402
from rdplic.pdu.licensing import decode_licensing_pdu, encode_licensing_pdu  # noqa: E402
from rdplic.pdu.licensing.messages import LICENSING_PDU  # noqa: E402
from rdplic.pdu.mcs import decode_domain_pdu  # noqa: E402
from rdplic.pdu.rdp import decode_security_header  # noqa: E402

DATA = ROOT / "tests" / "data" / "rdpele"
EXAMPLES = [
    ("4.1 SERVER_LICENSE_REQUEST", "4.1-server-license-request.hex"),
    ("4.2 CLIENT_NEW_LICENSE_REQUEST", "4.2-client-new-license-request.hex"),
    ("4.3 CLIENT_LICENSE_INFO", "4.3-client-license-info.hex"),
    ("4.4 SERVER_PLATFORM_CHALLENGE", "4.4-server-platform-challenge.hex"),
    ("4.5 CLIENT_PLATFORM_CHALLENGE_RESPONSE", "4.5-client-platform-challenge-response.hex"),
    ("4.6 SERVER_NEW_LICENSE", "4.6-server-new-license.hex"),
    ("BCGR LICENSE_ERROR_MESSAGE", "bcgr-4.1.11-valid-client.hex"),
]
SAMPLE_FRAME = ROOT / "rdplic" / "data" / "license-request.hex"
# captures/windows/win-tls-valid-client.pcapng, frame 32 (decrypted TLS).
WINDOWS_VALID_CLIENT_FRAME = bytes.fromhex(
    "0300002202f08068000103eb701480000000ff031000070000000200000004000000"
)


COMPILED = LICENSING_PDU.compile()
"""The whole licensing PDU (preamble and message) through construct's ``compile()``."""


def read_hex(path: Path) -> bytes:
    return bytes.fromhex("".join(path.read_text().split()))


# -- the hand-written baseline ----------------------------------------------
# Straight struct code for the same wire formats: what a careful person writes by hand
# without a definition language.  It returns tuples, not typed objects.

_U8x2_U16 = struct.Struct("<BBH")
_U16x2 = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_U32x2 = struct.Struct("<II")


def _blob(data: bytes, pos: int) -> tuple[tuple[int, bytes], int]:
    blob_type, length = _U16x2.unpack_from(data, pos)
    pos += 4
    end = pos + length
    if end > len(data):
        raise ValueError("blob past the end")
    return (blob_type, data[pos:end]), end


def _sized(data: bytes, pos: int) -> tuple[bytes, int]:
    (length,) = _U32.unpack_from(data, pos)
    pos += 4
    end = pos + length
    if end > len(data):
        raise ValueError("string past the end")
    return data[pos:end], end


def _fixed(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(data):
        raise ValueError("field past the end")
    return data[pos:end], end


def baseline_decode(data: bytes) -> tuple[Any, ...]:
    msg_type, flags, size = _U8x2_U16.unpack_from(data)
    pos = 4
    fields: list[Any] = []
    if msg_type == 0x01:
        random, pos = _fixed(data, pos, 32)
        (version,) = _U32.unpack_from(data, pos)
        company, pos = _sized(data, pos + 4)
        product, pos = _sized(data, pos)
        kex, pos = _blob(data, pos)
        algorithms = struct.unpack_from(f"<{len(kex[1]) // 4}I", kex[1])
        certificate, pos = _blob(data, pos)
        (count,) = _U32.unpack_from(data, pos)
        pos += 4
        if count * 4 > len(data) - pos:
            raise ValueError("too many scopes")
        scopes = []
        for _ in range(count):
            scope, pos = _blob(data, pos)
            scopes.append(scope)
        fields = [random, (version, company, product), (kex[0], algorithms), certificate, scopes]
    elif msg_type in (0x12, 0x13):
        alg, platform = _U32x2.unpack_from(data, pos)
        random, pos = _fixed(data, pos + 8, 32)
        premaster, pos = _blob(data, pos)
        second, pos = _blob(data, pos)
        third, pos = _blob(data, pos)
        fields = [alg, platform, random, premaster, second, third]
        if msg_type == 0x12:
            mac, pos = _fixed(data, pos, 16)
            fields.append(mac)
    elif msg_type == 0x02:
        (connect_flags,) = _U32.unpack_from(data, pos)
        challenge, pos = _blob(data, pos + 4)
        mac, pos = _fixed(data, pos, 16)
        fields = [connect_flags, challenge, mac]
    elif msg_type == 0x15:
        response, pos = _blob(data, pos)
        hwid, pos = _blob(data, pos)
        mac, pos = _fixed(data, pos, 16)
        fields = [response, hwid, mac]
    elif msg_type in (0x03, 0x04):
        info, pos = _blob(data, pos)
        mac, pos = _fixed(data, pos, 16)
        fields = [info, mac]
    elif msg_type == 0xFF:
        code, transition = _U32x2.unpack_from(data, pos)
        info, pos = _blob(data, pos + 8)
        fields = [code, transition, info]
    else:
        raise ValueError("unknown bMsgType")
    if pos != len(data):
        raise ValueError("trailing bytes")
    return (msg_type, flags, size, *fields)


def _pack_blob(blob: tuple[int, bytes]) -> bytes:
    return _U16x2.pack(blob[0], len(blob[1])) + blob[1]


def _pack_sized(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def baseline_encode(pdu: tuple[Any, ...]) -> bytes:
    msg_type, flags, _, *fields = pdu
    if msg_type == 0x01:
        random, (version, company, product), (kex_type, algorithms), certificate, scopes = fields
        parts = [
            random,
            _U32.pack(version),
            _pack_sized(company),
            _pack_sized(product),
            _U16x2.pack(kex_type, 4 * len(algorithms)),
            struct.pack(f"<{len(algorithms)}I", *algorithms),
            _pack_blob(certificate),
            _U32.pack(len(scopes)),
            *(_pack_blob(s) for s in scopes),
        ]
    elif msg_type in (0x12, 0x13):
        alg, platform, random, *blobs = fields
        mac = [blobs.pop()] if msg_type == 0x12 else []
        parts = [_U32x2.pack(alg, platform), random, *(_pack_blob(b) for b in blobs), *mac]
    elif msg_type == 0x02:
        connect_flags, challenge, mac = fields
        parts = [_U32.pack(connect_flags), _pack_blob(challenge), mac]
    elif msg_type == 0x15:
        parts = [_pack_blob(fields[0]), _pack_blob(fields[1]), fields[2]]
    elif msg_type in (0x03, 0x04):
        parts = [_pack_blob(fields[0]), fields[1]]
    else:
        code, transition, info = fields
        parts = [_U32x2.pack(code, transition), _pack_blob(info)]
    body = b"".join(parts)
    return _U8x2_U16.pack(msg_type, flags, 4 + len(body)) + body


def baseline_frame(frame: bytes) -> tuple[Any, ...]:
    """TPKT, X.224 Data, MCS Send Data (aligned PER), basic security header, licensing."""
    version, _, length = struct.unpack_from(">BBH", frame)
    if version != 3 or length != len(frame) or frame[4:7] != b"\x02\xf0\x80":
        raise ValueError("not a TPKT/X.224 data frame")
    choice = frame[7] >> 2
    initiator, channel = struct.unpack_from(">HH", frame, 8)
    priority = frame[12]
    user_length = frame[13]
    pos = 14
    if user_length & 0x80:
        user_length = ((user_length & 0x3F) << 8) | frame[14]
        pos = 15
    if pos + user_length != len(frame):
        raise ValueError("userData length")
    flags, flags_hi = _U16x2.unpack_from(frame, pos)
    licensing = baseline_decode(frame[pos + 4 :])
    return (choice, initiator + 1001, channel, priority, flags, flags_hi, licensing)


def full_frame(frame: bytes) -> Any:
    """What the server does with a received frame, one layer after the other."""
    tpdu = decode_x224(decode_tpkt(frame).payload)
    send_data = decode_domain_pdu(tpdu.payload)
    header, rest = decode_security_header(send_data.user_data)
    return header, decode_licensing_pdu(rest)


# -- timing -----------------------------------------------------------------


def per_call(func: Callable[[], Any], number: int, repeat: int) -> float:
    """Median microseconds per call over ``repeat`` runs of ``number`` calls."""
    func()
    runs = timeit.Timer(func).repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (noisier)")
    args = parser.parse_args()
    number, repeat = (200, 5) if args.quick else (2000, 15)
    slow_number = max(number // 10, 20)

    header = (
        f"{'PDU':40} {'bytes':>5}  {'decode':>7} {'by hand':>7} {'ratio':>5}  "
        f"{'encode':>7} {'by hand':>7} {'ratio':>5}  {'compiled':>9} {'construct':>9}"
    )
    print("Median microseconds per PDU (decode / encode); compiled and construct: decode.")
    print(header)
    print("-" * len(header))
    for name, file in EXAMPLES:
        data = read_hex(DATA / file)
        pdu = decode_licensing_pdu(data)
        plain = baseline_decode(data)
        assert encode_licensing_pdu(pdu) == data
        assert baseline_encode(plain) == data
        decode = per_call(partial(decode_licensing_pdu, data), number, repeat)
        base_decode = per_call(partial(baseline_decode, data), number, repeat)
        encode = per_call(partial(encode_licensing_pdu, pdu), number, repeat)
        base_encode = per_call(partial(baseline_encode, plain), number, repeat)
        compiled = per_call(partial(COMPILED.parse, data), number, repeat)
        reference = per_call(
            partial(decode_licensing_pdu, data, engine="construct"), slow_number, repeat
        )
        print(
            f"{name:40} {len(data):5}  {decode:7.2f} {base_decode:7.2f} "
            f"{decode / base_decode:5.1f}  {encode:7.2f} {base_encode:7.2f} "
            f"{encode / base_encode:5.1f}  {compiled:9.2f} {reference:9.2f}"
        )

    print()
    print("Whole frame, TPKT down to the licensing message (decode):")
    frames = [
        ("4.1 License Request frame (--sample)", read_hex(SAMPLE_FRAME)),
        ("Windows valid-client frame", WINDOWS_VALID_CLIENT_FRAME),
    ]
    header = f"{'frame':40} {'bytes':>5}  {'decode':>7} {'by hand':>7} {'ratio':>5}  target"
    print(header)
    print("-" * len(header))
    for name, frame in frames:
        full_frame(frame)
        baseline_frame(frame)
        decode = per_call(partial(full_frame, frame), number, repeat)
        base = per_call(partial(baseline_frame, frame), number, repeat)
        met = "met" if decode < 15 and decode / base <= 8 else "MISSED"
        print(f"{name:40} {len(frame):5}  {decode:7.2f} {base:7.2f} {decode / base:5.1f}  {met}")


if __name__ == "__main__":
    main()
