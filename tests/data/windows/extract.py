"""Regenerate the fixtures of this directory from captures/windows (run from the repo root).

    .venv/bin/python tests/data/windows/extract.py

Reads the two pcapng files with tests/pcapng.py, splits each direction into TPKT frames and
writes one .hex file per frame, named after the capture and the frame number(s) that carried it.
The TLS capture's application data is decrypted with the TLS 1.2 master secret that the capture
itself embeds (Decryption Secrets Block, NSS key log); the cipher suite is
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, as its ServerHello says.
It also writes the server certificate of the stdsec capture's SC_SECURITY block as a .bin file.
Not used by the tests (which read the fixtures), only to show and repeat where the bytes come from.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from rdplic.pdu.framing import decode_tpkt, decode_x224  # noqa: E402
from rdplic.pdu.gcc import ServerSecurityData, decode_conference_create_response  # noqa: E402
from rdplic.pdu.mcs import decode_mcs_connect_response  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("pcapng", ROOT / "tests" / "pcapng.py")
assert _SPEC is not None and _SPEC.loader is not None
pcapng = importlib.util.module_from_spec(_SPEC)
sys.modules["pcapng"] = pcapng
_SPEC.loader.exec_module(pcapng)

OUT = Path(__file__).resolve().parent


def _prf_sha384(secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    out = b""
    a = label + seed
    while len(out) < size:
        a = hmac.new(secret, a, hashlib.sha384).digest()
        out += hmac.new(secret, a + label + seed, hashlib.sha384).digest()
    return out[:size]


def _tls_records(data: bytes) -> list[tuple[int, int, bytes]]:
    records = []
    offset = 0
    while offset < len(data):
        rtype, _version, length = struct.unpack_from("!BHH", data, offset)
        records.append((rtype, offset, data[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    return records


def _decrypt_tls(
    stream: Any, master: dict[bytes, bytes]
) -> tuple[bytes, bytes, list[int], list[int]]:
    """Plaintext application data per direction, with the frame of each plaintext byte."""
    client = stream.data(True)
    server = stream.data(False)
    # Both sides start with the X.224 CR / CC (19 and 47 bytes), then TLS.
    cr_len = int.from_bytes(client[2:4], "big")
    cc_len = int.from_bytes(server[2:4], "big")
    c_recs = _tls_records(client[cr_len:])
    s_recs = _tls_records(server[cc_len:])
    client_random = c_recs[0][2][6:38]
    server_random = s_recs[0][2][6:38]
    key_block = _prf_sha384(
        master[client_random], b"key expansion", server_random + client_random, 72
    )
    keys = {True: (key_block[0:32], key_block[64:68]), False: (key_block[32:64], key_block[68:72])}
    result = []
    for from_client, recs, base in ((True, c_recs, cr_len), (False, s_recs, cc_len)):
        key, salt = keys[from_client]
        aead = AESGCM(key)
        seq = -1
        plain = bytearray()
        frames = []
        for rtype, offset, body in recs:
            if rtype == 0x14:
                seq = 0
                continue
            if seq < 0:
                continue
            explicit, sealed = body[:8], body[8:]
            aad = struct.pack("!QBHH", seq, rtype, 0x0303, len(sealed) - 16)
            text = aead.decrypt(salt + explicit, sealed, aad)
            seq += 1
            if rtype == 0x17:
                plain += text
                frames += [stream.frame_at(from_client, base + offset)] * len(text)
        result.append((bytes(plain), frames))
    return result[0][0], result[1][0], result[0][1], result[1][1]


def _tpkt_frames(data: bytes, frames: list[int]) -> list[tuple[str, bytes]]:
    out = []
    offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        first, last = frames[offset], frames[offset + length - 1]
        name = f"{first}" if first == last else f"{first}-{last}"
        out.append((name, data[offset : offset + length]))
        offset += length
    return out


def _write(name: str, data: bytes) -> None:
    lines = [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]
    (OUT / f"{name}.hex").write_text("\n".join(lines) + "\n", encoding="ascii")


def main() -> None:
    stdsec = ROOT / "captures/windows/win-stdsec-valid-client.pcapng"
    for number, stream in enumerate(pcapng.tcp_streams(stdsec), start=1):
        for from_client, tag in ((True, "c2s"), (False, "s2c")):
            data = stream.data(from_client)
            frames = stream.client_frames if from_client else stream.server_frames
            for frame, pdu in _tpkt_frames(data, frames):
                _write(f"stdsec-conn{number}-frame{frame}-{tag}", pdu)
                if pdu[7:9] == b"\x7f\x66":  # MCS Connect-Response
                    mcs = decode_mcs_connect_response(decode_x224(decode_tpkt(pdu).payload).payload)
                    gcc = decode_conference_create_response(mcs.user_data)
                    for block in gcc.server_blocks:
                        if isinstance(block, ServerSecurityData) and block.server_certificate:
                            path = OUT / f"stdsec-conn{number}-frame{frame}-server-certificate.bin"
                            path.write_bytes(block.server_certificate)

    tls = ROOT / "captures/windows/win-tls-valid-client.pcapng"
    master: dict[bytes, bytes] = {}
    for block_type, body, _endian in pcapng._blocks(tls.read_bytes()):
        if block_type == 0xA:
            (length,) = struct.unpack_from("<I", body, 4)
            for line in body[8 : 8 + length].decode().splitlines():
                parts = line.split()
                if parts and parts[0] == "CLIENT_RANDOM":
                    master[bytes.fromhex(parts[1])] = bytes.fromhex(parts[2])
    (stream,) = pcapng.tcp_streams(tls)
    client, server = stream.data(True), stream.data(False)
    cr = client[: int.from_bytes(client[2:4], "big")]
    cc = server[: int.from_bytes(server[2:4], "big")]
    _write(f"tls-frame{stream.frame_at(True, 0)}-c2s", cr)
    _write(f"tls-frame{stream.frame_at(False, 0)}-s2c", cc)
    c_plain, s_plain, c_frames, s_frames = _decrypt_tls(stream, master)
    for data, frames, tag in ((c_plain, c_frames, "c2s"), (s_plain, s_frames, "s2c")):
        for frame, pdu in _tpkt_frames(data, frames):
            _write(f"tls-frame{frame}-{tag}-decrypted", pdu)


if __name__ == "__main__":
    main()
