"""pcapng in and out, through scapy: TCP connections as the byte streams each side sent.

Why scapy (and not python-pcapng, which only reads and writes blocks): scapy also builds the
Ethernet/IP/TCP packets we write (checksums included) and dissects the link layers other
tools write (Ethernet, Linux cooked v1 and v2, raw IP, BSD loopback, IPv4 and IPv6), so no
packet header is hand-made or hand-parsed here.  What scapy does not do is TCP reassembly
of a whole file into streams with frame numbers, and TLS decryption of a stream that starts
as plaintext X.224 (RDP's way of starting TLS); the first is `read_capture` below, the
second is left to tshark (Wireshark's own TLS decryption, fed by the file's Decryption
Secrets Block or a key log).

Writing: `CaptureWriter` makes each connection a TCP stream between its real addresses,
with a handshake, sequence numbers and FINs made up so that Wireshark reassembles it;
comments on packets carry the recordings (`rdplic.capture.recording`).  The file is created
0600 (`rdplic.files.open_private`): a capture holds at least the Client Info password.

Reading: `read_capture` returns every TCP connection (in order of first packet), each
direction reassembled in sequence order (retransmitted bytes dropped, out-of-order segments
put in place), each byte with the number of the frame that carried it, numbered from 1 as
Wireshark does, plus the comments that rdplic wrote.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Ether  # noqa: F401  (registers Linux cooked v1)
from scapy.packet import Packet
from scapy.utils import PcapNgReader, PcapNgWriter

from rdplic.errors import RdplicError
from rdplic.files import open_private

__all__ = [
    "COMMENT_PREFIX",
    "CaptureError",
    "CaptureWriter",
    "Chunk",
    "Connection",
    "is_pcapng",
    "read_capture",
    "tls_start",
]

COMMENT_PREFIX = "rdplic-connection "
"""Packet comments that start with this carry a connection's recording (JSON)."""

_MAX_SEGMENT = 16_000  # below the 64 KiB IPv4 limit, near a loopback segment
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


class CaptureError(RdplicError):
    """A file that is not a capture we can read."""


def is_pcapng(data: bytes) -> bool:
    """Whether ``data`` starts like a pcapng (or classic pcap) file."""
    return data[:4] == _PCAPNG_MAGIC or data[:4] in _PCAP_MAGICS


# -- writing ---------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Stream:
    client: tuple[str, int]
    server: tuple[str, int]
    next_seq: list[int]
    """(client->server, server->client) next sequence numbers."""


def _host(host: str) -> str:
    """The address as text; a name that is not an address is shown as 127.0.0.1."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "127.0.0.1"


class CaptureWriter:
    """TCP streams of (direction, bytes) records into one pcapng file (0600)."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        # Created 0600 first; scapy then reopens the file by name (its mode stays).
        open_private(path).close()
        self._writer: Any = PcapNgWriter(str(path))
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._clock = clock

    def open_stream(
        self, client: tuple[str, int], server: tuple[str, int], core: object = None
    ) -> int:
        """Start a connection (writes a TCP handshake); returns its id.  ``core`` is for
        `rdplic.capture.recorder.CaptureRecorder`'s signature: a plain writer ignores it."""
        stream_id = next(self._ids)
        stream = _Stream((_host(client[0]), client[1]), (_host(server[0]), server[1]), [1000, 5000])
        self._streams[stream_id] = stream
        self._packet(stream, True, b"", "S")
        self._packet(stream, False, b"", "SA")
        self._packet(stream, True, b"", "A")
        return stream_id

    def record(self, stream_id: int, from_client: bool, data: bytes) -> None:
        """Bytes one side sent (split into segments of at most 16 000 bytes)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        for start in range(0, len(data), _MAX_SEGMENT):
            self._packet(stream, from_client, data[start : start + _MAX_SEGMENT], "PA")

    def close_stream(self, stream_id: int, comment: str | list[str] | None = None) -> None:
        """End a connection (FIN from the server, then from the client) and flush;
        ``comment`` (one or several) goes on the server's FIN."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._packet(stream, False, b"", "FA", comment)
        self._packet(stream, True, b"", "FA")
        self._writer.flush()

    def close(self) -> None:
        for stream_id in list(self._streams):
            self.close_stream(stream_id)
        self._writer.close()

    def _packet(
        self,
        stream: _Stream,
        from_client: bool,
        payload: bytes,
        flags: str,
        comment: str | list[str] | None = None,
    ) -> None:
        src, dst = (stream.client, stream.server) if from_client else (stream.server, stream.client)
        mine, theirs = (0, 1) if from_client else (1, 0)
        seq = stream.next_seq[mine]
        ack = stream.next_seq[theirs] if "A" in flags else 0
        stream.next_seq[mine] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        network: Packet
        if ":" in src[0]:
            network = IPv6(src=src[0], dst=dst[0])
        else:
            network = IP(src=src[0], dst=dst[0], flags="DF", ttl=64, id=0)
        segment = TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags, window=65535)
        packet: Any = Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / network / segment
        if payload:
            packet = packet / payload
        packet.time = self._clock()
        if comment:
            texts = [comment] if isinstance(comment, str) else comment
            packet.comments = [text.encode() for text in texts]
        self._writer.write(packet)


# -- reading ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes of one direction that one frame carried (after reassembly)."""

    frame: int
    from_client: bool
    data: bytes


@dataclasses.dataclass(slots=True)
class Connection:
    """One TCP connection: the client is the side that sent the first SYN (or segment).

    :ivar chunks: what each side sent, in frame order; under TLS, after the handshake, the
        decrypted application data (``tls`` is then "decrypted") or the TLS records as they
        were ("encrypted", when no secrets were at hand)
    :ivar comments: rdplic's comments found on this connection's packets
    :ivar gaps: bytes missing from the capture (segments never seen)
    """

    index: int
    client: tuple[str, int]
    server: tuple[str, int]
    chunks: list[Chunk] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)
    tls: str = ""
    gaps: int = 0

    def data(self, from_client: bool) -> bytes:
        """Every byte one side sent, in order."""
        return b"".join(c.data for c in self.chunks if c.from_client == from_client)

    def frame_map(self, from_client: bool) -> list[tuple[int, int]]:
        """(end offset, frame) of each chunk of one direction, in order."""
        out: list[tuple[int, int]] = []
        offset = 0
        for chunk in self.chunks:
            if chunk.from_client == from_client:
                offset += len(chunk.data)
                out.append((offset, chunk.frame))
        return out


@dataclasses.dataclass(slots=True)
class _Direction:
    next_rel: int | None = None
    base: int | None = None
    pending: dict[int, tuple[int, bytes]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class _Tracker:
    connection: Connection
    directions: dict[bool, _Direction]
    closed: bool = False


def _tcp_of(packet: Packet) -> tuple[tuple[str, int], tuple[str, int], Any, bytes] | None:
    """(source, destination, TCP layer, payload) of a TCP packet; None for others."""
    network = packet.getlayer(IP)
    if network is None:
        network = packet.getlayer(IPv6)
        if network is None:
            return None
        length = network.plen
    else:
        length = network.len - network.ihl * 4
    tcp = network.getlayer(TCP)
    if tcp is None:
        return None
    raw = bytes(network.payload)[:length]
    payload = raw[tcp.dataofs * 4 :]
    return (network.src, tcp.sport), (network.dst, tcp.dport), tcp, payload


def _packets(path: Path) -> Iterator[tuple[int, Packet]]:
    # scapy warns that it cannot use a Decryption Secrets Block itself; tshark does.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        reader: Any = PcapNgReader(str(path))
    except Exception as error:  # scapy raises Scapy_Exception or struct errors
        raise CaptureError(f"{path}: not a pcapng file ({error})") from None
    with reader:
        frame = 0
        while True:
            try:
                packet = reader.read_packet()
            except EOFError:
                return
            except Exception as error:
                raise CaptureError(f"{path}: unreadable after frame {frame} ({error})") from None
            frame += 1
            yield frame, packet


def _deliver(connection: Connection, direction: _Direction, from_client: bool) -> None:
    """Append what is now in order; drop what was already delivered."""
    assert direction.next_rel is not None
    while direction.pending:
        start = min(direction.pending)
        if start > direction.next_rel:
            return
        frame, payload = direction.pending.pop(start)
        skip = direction.next_rel - start
        if skip < len(payload):
            connection.chunks.append(Chunk(frame, from_client, payload[skip:]))
            direction.next_rel += len(payload) - skip


def read_capture(
    path: Path, *, keylog: Path | None = None, decrypt_tls: bool = True
) -> list[Connection]:
    """Every TCP connection of the file at ``path``, reassembled (see the module docstring).

    TLS connections are decrypted by tshark when it is installed and the secrets are in
    the file (Decryption Secrets Block) or in ``keylog``; otherwise their TLS part stays
    as it was, marked "encrypted".  With ``decrypt_tls=False`` nothing is decrypted and
    nothing marked: every connection's ``tls`` stays "" and its TLS records are as sent
    (callers find where they begin with `tls_start`).

    :raises CaptureError: the file is not a capture
    """
    trackers: dict[frozenset[tuple[str, int]], _Tracker] = {}
    connections: list[Connection] = []
    for frame, packet in _packets(path):
        parsed = _tcp_of(packet)
        if parsed is None:
            continue
        src, dst, tcp, payload = parsed
        key = frozenset((src, dst))
        flags = int(tcp.flags)
        syn, ack, fin, rst = flags & 0x02, flags & 0x10, flags & 0x01, flags & 0x04
        tracker = trackers.get(key)
        if tracker is None or (syn and not ack and tracker.closed):
            connection = Connection(len(connections) + 1, client=src, server=dst)
            tracker = _Tracker(connection, {True: _Direction(), False: _Direction()})
            trackers[key] = tracker
            connections.append(connection)
        connection = tracker.connection
        comments = getattr(packet, "comments", None) or []
        for raw in comments:
            text = bytes(raw).decode("utf-8", "replace")
            if text.startswith(COMMENT_PREFIX):
                connection.comments.append(text[len(COMMENT_PREFIX) :])
        from_client = src == connection.client
        direction = tracker.directions[from_client]
        seq = int(tcp.seq)
        if syn:
            direction.base = (seq + 1) & 0xFFFFFFFF
            direction.next_rel = 0
            continue
        if fin or rst:
            tracker.closed = True
        if not payload:
            continue
        if direction.base is None:
            direction.base = seq
            direction.next_rel = 0
        rel = (seq - direction.base) & 0xFFFFFFFF
        assert direction.next_rel is not None
        if rel + len(payload) <= direction.next_rel:
            continue  # a retransmission of what we have
        previous = direction.pending.get(rel)
        if previous is None or len(previous[1]) < len(payload):
            direction.pending[rel] = (frame, payload)
        _deliver(connection, direction, from_client)
    for tracker in trackers.values():
        for from_client, direction in tracker.directions.items():
            while direction.pending:  # a gap never filled: go on after it
                assert direction.next_rel is not None
                start = min(direction.pending)
                tracker.connection.gaps += start - direction.next_rel
                direction.next_rel = start
                _deliver(tracker.connection, direction, from_client)
    if decrypt_tls:
        _decrypt_tls(path, connections, keylog)
    return connections


# -- TLS -------------------------------------------------------------------------------


def tls_start(connection: Connection, from_client: bool) -> int | None:
    """Offset in one direction where TLS records begin (after the X.224 exchange)."""
    data = connection.data(from_client)
    if len(data) < 4 or data[0] != 0x03:
        return None
    size = int.from_bytes(data[2:4], "big")
    rest = data[size : size + 3]
    if len(rest) == 3 and rest[0] == 0x16 and rest[1] == 0x03:
        return size
    return None


def _decrypt_tls(path: Path, connections: list[Connection], keylog: Path | None) -> None:
    """Replace each TLS connection's records by the plaintext tshark decrypts."""
    tls = [c for c in connections if tls_start(c, True) is not None]
    if not tls:
        return
    for connection in tls:
        connection.tls = "encrypted"
    tshark = shutil.which("tshark")
    if tshark is None:
        return
    plaintext: dict[tuple[tuple[str, int], tuple[str, int]], list[tuple[int, bytes]]] = {}
    for port in sorted({c.server[1] for c in tls}):
        command = [tshark, "-n", "-r", str(path), "-d", f"tcp.port=={port},tls"]
        command += ["-d", f"tls.port=={port},data"]
        if keylog is not None:
            command += ["-o", f"tls.keylog_file:{keylog}"]
        command += ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
        for field in ("frame.number", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst"):
            command += ["-e", field]
        for field in ("ipv6.dst", "tcp.dstport", "data.data"):
            command += ["-e", field]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return
        for line in result.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) != 8 or not parts[7]:
                continue
            frame, src4, src6, sport, dst4, dst6, dport, data = parts
            src = (_host((src4 or src6).split(",")[0]), int(sport))
            dst = (_host((dst4 or dst6).split(",")[0]), int(dport))
            blob = b"".join(bytes.fromhex(x) for x in data.split(",") if x)
            plaintext.setdefault((src, dst), []).append((int(frame), blob))
    for connection in tls:
        client_start = tls_start(connection, True)
        server_start = tls_start(connection, False)
        if client_start is None or server_start is None:
            continue
        up = plaintext.get((connection.client, connection.server), [])
        down = plaintext.get((connection.server, connection.client), [])
        if not up and not down:
            continue
        kept: list[Chunk] = []
        for from_client, start in ((True, client_start), (False, server_start)):
            offset = 0
            for chunk in connection.chunks:
                if chunk.from_client != from_client:
                    continue
                if offset < start:
                    kept.append(Chunk(chunk.frame, from_client, chunk.data[: start - offset]))
                offset += len(chunk.data)
        first_frame = min((c.frame for c in connection.chunks), default=0)
        last_frame = max((c.frame for c in connection.chunks), default=0)
        for from_client, items in ((True, up), (False, down)):
            for number, blob in items:
                if first_frame <= number <= last_frame:
                    kept.append(Chunk(number, from_client, blob))
        connection.chunks = sorted((c for c in kept if c.data), key=lambda c: c.frame)
        connection.tls = "decrypted"
