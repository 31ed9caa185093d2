"""``rdplic replay``: a recorded server session run again through rdplic's own cores.

For each connection of a capture that carries a recording (`rdplic.capture.recording`), a
fresh `ServerConnection` is made with the recorded settings, certificates and host, fed the
recorded client bytes in the recorded chunks, with the recorded clock values, random bytes
and decisions, and every PDU it sends is compared with the recorded one.  No socket, no
state directory, no license server: the session is a pure function of what the capture
holds (README "The licensing core").

With the server's private keys (a capture made with ``--capture-secrets``) the replay is
byte for byte.  Without them a stand-in key takes their place: the replay matches up to the
Security Exchange (Standard RDP Security) or the client's premaster secret (licensing), and
its result is "partial" there, not a failure.

A difference is reported as the first differing PDU, both sides decoded
(`rdplic.capture.decode`, decryption included) and the path of the first field that
differs (``licensing.fields.message.ServerRandom``).  ``update`` rewrites the capture with
what the cores send now, after an intended change.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from rdplic.capture.decode import SessionKeys, decode_connection, split_frames
from rdplic.capture.pcap import CaptureWriter, Chunk, Connection, read_capture
from rdplic.capture.recording import Recording, RecordingError
from rdplic.core.connection_server import ServerConnection
from rdplic.core.errors import ConnectionProtocolError
from rdplic.core.licensing_server import LicensingServer
from rdplic.crypto.rsa import RsaPrivateKey, generate_rsa_key

__all__ = ["ConnectionResult", "field_diff", "replay_connection", "replay_file"]


@dataclasses.dataclass(slots=True)
class ConnectionResult:
    """How one recorded connection replayed.

    :ivar status: "identical", "differs", "partial" (no secrets: identical as far as the
        stand-in key allows) or "error"
    """

    file: str
    connection: int
    status: str
    pdus: int = 0
    frame: int | None = None
    path: str = ""
    recorded: Any = None
    replayed: Any = None
    detail: str = ""
    server_bytes: bytes = b""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "connection": self.connection,
            "status": self.status,
            "pdus": self.pdus,
        }
        if self.status != "identical":
            out.update(
                frame=self.frame,
                path=self.path,
                recorded=self.recorded,
                replayed=self.replayed,
                detail=self.detail,
            )
        return out


def field_diff(recorded: Any, replayed: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first path where two decoded JSON values differ, with both values (None when
    they are equal).  List entries that are layers are named by their layer."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        keys = list(recorded) + [k for k in replayed if k not in recorded]
        # what was decrypted names the field that changed; the ciphertext only follows it
        keys.sort(key=lambda k: k != "decrypted")
        for key in keys:
            if recorded.get(key, _MISSING) != replayed.get(key, _MISSING):
                if key not in recorded or key not in replayed:
                    return _join(path, key), recorded.get(key), replayed.get(key)
                return field_diff(recorded[key], replayed[key], _join(path, key))
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            if a != b:
                name = a.get("layer") if isinstance(a, dict) and "layer" in a else str(index)
                return field_diff(a, b, _join(path, str(name)))
        if len(recorded) != len(replayed):
            return _join(path, str(min(len(recorded), len(replayed)))), recorded, replayed
        return None
    if recorded != replayed:
        return path, recorded, replayed
    return None


_MISSING = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _stand_in_key(bits: int) -> RsaPrivateKey:
    """A deterministic key of ``bits`` bits for a replay without the recorded secrets."""
    draw = random.Random(bits)
    return generate_rsa_key(max(bits, 512), lambda n: draw.randbytes(n))


def _run_server(recording: Recording, client_data: bytes) -> tuple[bytes, bool, str]:
    """(server bytes, secrets known, error) of the recorded session run again."""
    proprietary = recording.private_key("proprietary_key")
    licensing_key = recording.private_key("licensing_key")
    secrets = proprietary is not None and licensing_key is not None
    if proprietary is None:
        proprietary = _stand_in_key(512)
    if licensing_key is None:
        licensing_key = proprietary
    connection_config = recording.connection_settings(proprietary)
    licensing_config = recording.licensing_settings(licensing_key)
    stream = bytes(recording.random)
    position = 0

    def draw(size: int) -> bytes:
        nonlocal position
        data = stream[position : position + size]
        position += size
        return data + bytes(size - len(data))

    def licensing(user: str, machine: str, preamble: int) -> LicensingServer:
        config = licensing_config
        if preamble == 2:
            config = dataclasses.replace(config, preamble_version=2)
        host = recording.host()
        assert host is not None
        return LicensingServer(
            config, host, random_bytes=draw, client_user_name=user, client_machine_name=machine
        )

    core = ServerConnection(connection_config, licensing, random_bytes=draw)
    out = bytearray()
    offset = 0
    error = ""
    for item in recording.inputs:
        op = item["op"]
        if op == "altered":
            continue
        now = Recording.now(item)
        try:
            if op == "data":
                chunk = client_data[offset : offset + item["length"]]
                offset += item["length"]
                core.receive_data(chunk, now)
            elif op == "tls":
                core.tls_established(now)
            elif op == "decide":
                core.decide(Recording.decision(item), now)
            elif op == "decision_failed":
                core.decision_failed(item["reason"], now)
        except ConnectionProtocolError:
            pass  # what goes on the wire is queued
        except Exception as problem:  # a machine that fell out of step with the recording
            error = f"{op} input: {type(problem).__name__}: {problem}"
            out += core.data_to_send()
            break
        while core.next_event() is not None:
            pass
        out += core.data_to_send()
    return bytes(out), secrets, error


def _keys(recording: Recording) -> SessionKeys:
    proprietary = recording.private_key("proprietary_key")
    licensing = recording.private_key("licensing_key")
    return SessionKeys(proprietary, tuple(k for k in (licensing, proprietary) if k is not None))


def replay_connection(path: str, connection: Connection, recording: Recording) -> ConnectionResult:
    """Run one recorded server connection again and compare (see the module docstring)."""
    server, secrets, error = _run_server(recording, connection.data(True))
    result = ConnectionResult(path, connection.index, "identical", server_bytes=server)
    recorded_server = connection.data(False)
    if server == recorded_server:  # the usual case: no need to decode anything
        result.pdus = len(split_frames(server, [(len(server), 0)]))
        if error:
            result.status, result.detail = "error", error
        return result
    replayed = _with_server(connection, server)
    keys = _keys(recording)
    recorded_frames = [f for f in decode_connection(connection, keys) if not f.from_client]
    replayed_frames = [f for f in decode_connection(replayed, keys) if not f.from_client]
    result.pdus = len(recorded_frames)
    for index in range(max(len(recorded_frames), len(replayed_frames))):
        a = recorded_frames[index] if index < len(recorded_frames) else None
        b = replayed_frames[index] if index < len(replayed_frames) else None
        if a is not None and b is not None and a.data == b.data:
            continue
        result.status = "differs" if secrets else "partial"
        result.frame = a.frame if a is not None else None
        if a is None or b is None:
            result.path = f"server PDU {index + 1}"
            result.recorded = None if a is None else a.layers
            result.replayed = None if b is None else b.layers
            result.detail = "the replay sent fewer PDUs" if b is None else "the replay sent more"
        else:
            # innermost layer first: a licensing field, not the MAC that covers it
            found = field_diff(a.layers[::-1], b.layers[::-1])
            if found is None:
                result.path, result.recorded, result.replayed = "bytes", a.data.hex(), b.data.hex()
            else:
                result.path, result.recorded, result.replayed = found
        if not secrets:
            result.detail = (result.detail + "; " if result.detail else "") + (
                "recorded without --capture-secrets: compared as far as the server's keys "
                "were not needed"
            )
        break
    if error and result.status == "identical":
        result.status, result.detail = "error", error
    return result


def _with_server(connection: Connection, server: bytes) -> Connection:
    """``connection`` with its server side replaced by ``server`` (frame numbers of the
    recorded server chunks, the rest on the last one)."""
    chunks = [c for c in connection.chunks if c.from_client]
    offset = 0
    server_chunks = [c for c in connection.chunks if not c.from_client]
    for number, chunk in enumerate(server_chunks):
        last = number == len(server_chunks) - 1
        size = len(server) - offset if last else len(chunk.data)
        chunks.append(Chunk(chunk.frame, False, server[offset : offset + size]))
        offset += size
    chunks.sort(key=lambda c: c.frame)
    return dataclasses.replace(connection, chunks=chunks)


def recordings(connection: Connection) -> Recording | None:
    """The connection's server recording, None when it has none."""
    for text in connection.comments:
        try:
            recording = Recording.from_json(text)
        except (RecordingError, KeyError) as error:
            raise RecordingError(f"connection {connection.index}: {error}") from None
        if recording.side == "server":
            return recording
    return None


def replay_file(path: Path, *, update: bool = False) -> list[ConnectionResult]:
    """Replay every recorded connection of the capture at ``path``; with ``update``,
    rewrite the capture with what the cores send now."""
    connections = read_capture(path)
    results: list[ConnectionResult] = []
    for connection in connections:
        recording = recordings(connection)
        if recording is None:
            continue
        results.append(replay_connection(str(path), connection, recording))
    if update and any(r.status != "identical" for r in results):
        _rewrite(path, connections, {r.connection: r.server_bytes for r in results})
    return results


def _rewrite(path: Path, connections: list[Connection], servers: dict[int, bytes]) -> None:
    """Write the capture again, each replayed connection with the server side the cores
    send now (its recording unchanged: the inputs are what they were)."""
    temporary = path.with_name(path.name + ".new")
    writer = CaptureWriter(temporary)
    for connection in connections:
        stream = writer.open_stream(connection.client, connection.server)
        chunks = connection.chunks
        if connection.index in servers:
            chunks = _with_server(connection, servers[connection.index]).chunks
        for chunk in chunks:
            writer.record(stream, chunk.from_client, chunk.data)
        comment = None
        if connection.comments:
            from rdplic.capture.pcap import COMMENT_PREFIX

            comment = COMMENT_PREFIX + connection.comments[0]
        writer.close_stream(stream, comment)
    writer.close()
    temporary.replace(path)
