"""Regenerate the fixtures of this directory from captures/windows (run from the repo root).

    .venv/bin/python tests/data/windows/extract.py

Reads the two pcapng files with `rdplic.capture.pcap.read_capture` (scapy; the TLS
capture's application data decrypted by tshark with the TLS 1.2 master secret the capture
itself embeds in its Decryption Secrets Block), splits each direction into TPKT frames
(`rdplic.capture.decode.split_frames`) and writes one .hex file per frame, named after the
capture and the number of the frame that carried it.  It also writes the server certificate
of the stdsec capture's SC_SECURITY block as a .bin file.
Not used by the tests (which read the fixtures), only to show and repeat where the bytes come
from.  Until issue 14 the reassembly and the TLS decryption (TLS_ECDHE_RSA_WITH_AES_256_GCM_
SHA384) were hand-written here; the fixtures they made are byte for byte the ones this makes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from rdplic.capture.decode import split_frames  # noqa: E402
from rdplic.capture.pcap import read_capture  # noqa: E402
from rdplic.pdu.framing import decode_tpkt, decode_x224  # noqa: E402
from rdplic.pdu.gcc import ServerSecurityData, decode_conference_create_response  # noqa: E402
from rdplic.pdu.mcs import decode_mcs_connect_response  # noqa: E402

OUT = Path(__file__).resolve().parent


def _write(name: str, data: bytes) -> None:
    lines = [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]
    (OUT / f"{name}.hex").write_text("\n".join(lines) + "\n", encoding="ascii")


def main() -> None:
    stdsec = ROOT / "captures/windows/win-stdsec-valid-client.pcapng"
    for connection in read_capture(stdsec):
        number = connection.index
        for from_client, tag in ((True, "c2s"), (False, "s2c")):
            data = connection.data(from_client)
            for frame, pdu in split_frames(data, connection.frame_map(from_client)):
                _write(f"stdsec-conn{number}-frame{frame}-{tag}", pdu)
                if pdu[7:9] == b"\x7f\x66":  # MCS Connect-Response
                    mcs = decode_mcs_connect_response(decode_x224(decode_tpkt(pdu).payload).payload)
                    gcc = decode_conference_create_response(mcs.user_data)
                    for block in gcc.server_blocks:
                        if isinstance(block, ServerSecurityData) and block.server_certificate:
                            path = OUT / f"stdsec-conn{number}-frame{frame}-server-certificate.bin"
                            path.write_bytes(block.server_certificate)

    tls = ROOT / "captures/windows/win-tls-valid-client.pcapng"
    (connection,) = read_capture(tls)
    assert connection.tls == "decrypted", "tshark is needed to decrypt the TLS capture"
    for from_client, tag in ((True, "c2s"), (False, "s2c")):
        data = connection.data(from_client)
        for index, (frame, pdu) in enumerate(split_frames(data, connection.frame_map(from_client))):
            # the X.224 Connection Request / Confirm went in clear, the rest inside TLS
            _write(f"tls-frame{frame}-{tag}" + ("-decrypted" if index else ""), pdu)


if __name__ == "__main__":
    main()
