"""A tiny pcapng reader for tests: TCP payloads per connection and direction, without tshark.

It understands what Wireshark/dumpcap writes for an Ethernet capture: the Section Header Block,
Interface Description Blocks (link type 1, Ethernet), Enhanced and Simple Packet Blocks; every
other block (name resolution, statistics, the decryption secrets of a TLS capture) is skipped.
Packets are decoded as Ethernet (optionally one 802.1Q tag) / IPv4 / TCP; anything else is
ignored. Frame numbers count packet blocks from 1, as Wireshark and tshark number them.

`tcp_streams(path)` returns one `TcpStream` per connection with the bytes each side sent,
reassembled in sequence order (retransmitted segments are dropped), and for each byte offset the
frame number that carried it, so that a test can name the frame a PDU came from.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

__all__ = ["Segment", "TcpStream", "read_packets", "tcp_streams"]

_SHB = 0x0A0D0D0A
_IDB = 0x00000001
_SPB = 0x00000003
_EPB = 0x00000006
_LINKTYPE_ETHERNET = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment with payload, as captured."""

    frame: int
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    syn: bool
    payload: bytes


@dataclasses.dataclass(slots=True)
class TcpStream:
    """One TCP connection: the client is the side that sent the first SYN (or first segment)."""

    client: tuple[str, int]
    server: tuple[str, int]
    client_data: bytearray = dataclasses.field(default_factory=bytearray)
    server_data: bytearray = dataclasses.field(default_factory=bytearray)
    client_frames: list[int] = dataclasses.field(default_factory=list)
    server_frames: list[int] = dataclasses.field(default_factory=list)

    def data(self, from_client: bool) -> bytes:
        """The bytes one side sent, in order."""
        return bytes(self.client_data if from_client else self.server_data)

    def frame_at(self, from_client: bool, offset: int) -> int:
        """The frame number that carried the byte at ``offset`` of one side's data."""
        return (self.client_frames if from_client else self.server_frames)[offset]


def _blocks(raw: bytes) -> list[tuple[int, bytes, str]]:
    blocks: list[tuple[int, bytes, str]] = []
    offset = 0
    endian = "<"
    while offset + 12 <= len(raw):
        (block_type,) = struct.unpack_from(endian + "I", raw, offset)
        if block_type == _SHB:
            magic = raw[offset + 8 : offset + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        (length,) = struct.unpack_from(endian + "I", raw, offset + 4)
        if length < 12 or offset + length > len(raw):
            raise ValueError(f"bad pcapng block length {length} at {offset}")
        blocks.append((block_type, raw[offset + 8 : offset + length - 4], endian))
        offset += length
    return blocks


def read_packets(path: Path) -> list[tuple[int, bytes]]:
    """Every captured packet as (frame number, link-layer bytes) for Ethernet interfaces."""
    links: list[int] = []
    packets: list[tuple[int, bytes]] = []
    frame = 0
    for block_type, body, endian in _blocks(Path(path).read_bytes()):
        if block_type == _SHB:
            links = []
        elif block_type == _IDB:
            links.append(struct.unpack_from(endian + "H", body, 0)[0])
        elif block_type == _EPB:
            frame += 1
            interface, _hi, _lo, captured, _orig = struct.unpack_from(endian + "IIIII", body, 0)
            if links[interface] == _LINKTYPE_ETHERNET:
                packets.append((frame, body[20 : 20 + captured]))
        elif block_type == _SPB:
            frame += 1
            (original,) = struct.unpack_from(endian + "I", body, 0)
            if links and links[0] == _LINKTYPE_ETHERNET:
                packets.append((frame, body[4 : 4 + min(original, len(body) - 4)]))
    return packets


def _segment(frame: int, packet: bytes) -> Segment | None:
    ethertype = struct.unpack_from("!H", packet, 12)[0]
    offset = 14
    if ethertype == 0x8100:
        ethertype = struct.unpack_from("!H", packet, 16)[0]
        offset = 18
    if ethertype != 0x0800:
        return None
    ip = packet[offset:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    if ip[9] != 6:
        return None
    src_ip = ".".join(str(b) for b in ip[12:16])
    dst_ip = ".".join(str(b) for b in ip[16:20])
    tcp = ip[ihl:total]
    sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
    data_offset = (tcp[12] >> 4) * 4
    syn = bool(tcp[13] & 0x02)
    return Segment(frame, (src_ip, sport), (dst_ip, dport), seq, syn, bytes(tcp[data_offset:]))


def tcp_streams(path: Path) -> list[TcpStream]:
    """Every TCP connection in the capture, in order of first appearance."""
    streams: dict[frozenset[tuple[str, int]], TcpStream] = {}
    next_seq: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}
    for frame, packet in read_packets(path):
        segment = _segment(frame, packet)
        if segment is None:
            continue
        key = frozenset((segment.src, segment.dst))
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = TcpStream(client=segment.src, server=segment.dst)
        direction = (segment.src, segment.dst)
        if segment.syn:
            next_seq[direction] = (segment.seq + 1) & 0xFFFFFFFF
            continue
        if not segment.payload:
            continue
        expected = next_seq.setdefault(direction, segment.seq)
        if segment.seq != expected:
            # A retransmission (or data we cannot place): keep the first copy only.
            continue
        next_seq[direction] = (segment.seq + len(segment.payload)) & 0xFFFFFFFF
        from_client = segment.src == stream.client
        (stream.client_data if from_client else stream.server_data).extend(segment.payload)
        frames = stream.client_frames if from_client else stream.server_frames
        frames.extend([frame] * len(segment.payload))
    return list(streams.values())
