"""``rdplic serve --capture FILE``: every session's bytes as a pcapng Wireshark can read.

The bytes recorded are those the connection machine sees: after TLS decryption, so a TLS
session shows its RDP PDUs in clear (the TLS records themselves are not kept; use
``--tls-keylog`` with a real packet capture for those).  Each connection becomes a TCP
stream between its real addresses, with a handshake, sequence numbers and a closing FIN
made up so that Wireshark reassembles it; read it with

    tshark -r FILE -d tcp.port==PORT,tpkt

where PORT is the server's.  Writing is synchronous and buffered (the file is flushed when
a connection closes and at exit); a capture is a debugging aid, not a production log.
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
import time
from pathlib import Path
from typing import IO

from rdplic.files import open_private

__all__ = ["PcapngWriter"]

_LINKTYPE_ETHERNET = 1
_MAX_SEGMENT = 16_000  # below the 64 KiB IPv4 limit, near a loopback segment


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(host: str) -> bytes:
    """The address as 4 bytes; IPv6 peers are shown as 127.0.0.1 (IPv4 framing only)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bytes((127, 0, 0, 1))
    return address.packed if address.version == 4 else bytes((127, 0, 0, 1))


class _Stream:
    __slots__ = ("client", "next_seq", "server")

    def __init__(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        self.client = client
        self.server = server
        # (client->server, server->client) next sequence numbers
        self.next_seq = [1000, 5000]


class PcapngWriter:
    """Writes TCP streams of (direction, bytes) records into one pcapng file."""

    def __init__(self, path: Path) -> None:
        # A capture holds the decrypted session, Client Info password included: 0600.
        self._file: IO[bytes] = open_private(path)
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        self._file.write(_block(0x0A0D0D0A, shb))
        self._file.write(_block(0x00000001, struct.pack("<HHI", _LINKTYPE_ETHERNET, 0, 0)))
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)

    def open_stream(self, client: tuple[str, int], server: tuple[str, int]) -> int:
        """Start a connection (writes a TCP handshake); returns its id."""
        stream_id = next(self._ids)
        stream = _Stream(client, server)
        self._streams[stream_id] = stream
        self._packet(stream, True, b"", 0x02)  # SYN
        self._packet(stream, False, b"", 0x12)  # SYN, ACK
        self._packet(stream, True, b"", 0x10)  # ACK
        return stream_id

    def record(self, stream_id: int, from_client: bool, data: bytes) -> None:
        """Bytes one side sent (split into segments of at most 16 000 bytes)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        for start in range(0, len(data), _MAX_SEGMENT):
            self._packet(stream, from_client, data[start : start + _MAX_SEGMENT], 0x18)

    def close_stream(self, stream_id: int) -> None:
        """End a connection (FIN from the server, then from the client) and flush."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._packet(stream, False, b"", 0x11)
        self._packet(stream, True, b"", 0x11)
        self._file.flush()

    def close(self) -> None:
        for stream_id in list(self._streams):
            self.close_stream(stream_id)
        self._file.close()

    def _packet(self, stream: _Stream, from_client: bool, payload: bytes, flags: int) -> None:
        src, dst = (stream.client, stream.server) if from_client else (stream.server, stream.client)
        mine, theirs = (0, 1) if from_client else (1, 0)
        seq = stream.next_seq[mine]
        ack = stream.next_seq[theirs] if flags & 0x10 else 0
        stream.next_seq[mine] += len(payload) + (1 if flags & 0x03 else 0)
        src_ip, dst_ip = _ipv4(src[0]), _ipv4(dst[0])
        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        checksum = _checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", checksum) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip + tcp + payload
        stamp = int(time.time() * 1_000_000)
        epb = (
            struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(frame), len(frame))
            + frame
        )
        self._file.write(_block(0x00000006, epb))
