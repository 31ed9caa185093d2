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
its result is "partial" there, not a failure, and the rest of the session is compared by its
shape (`rdplic.capture.structure`: a stand-in client under stand-in keys).

A difference is reported as the first differing PDU, both sides decoded
(`rdplic.capture.decode`, decryption included) and the path of the first field that
differs (``licensing.fields.message.ServerRandom``).  ``update`` rewrites the capture with
what the cores send now, after an intended change.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rdplic.capture.decode import DecodedFrame, SessionKeys, decode_connection, split_frames
from rdplic.capture.hostile_replay import hostile_connection, replay_adapter
from rdplic.capture.pcap import COMMENT_PREFIX, CaptureWriter, Chunk, Connection, read_capture
from rdplic.capture.recording import Recording, RecordingError
from rdplic.capture.structure import StandInClient, compare_structure
from rdplic.core.client_store import LicenseKey, MemoryLicenseStore
from rdplic.core.connection_server import ServerConnection
from rdplic.core.errors import ConnectionProtocolError
from rdplic.core.licensing_server import LicensingServer
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.rsa import RsaPrivateKey, generate_rsa_key
from rdplic.crypto.x509 import public_key_from_server_certificate
from rdplic.pdu.errors import PduError

__all__ = [
    "CLIENT_RANDOM_FIELDS",
    "DECRYPTED_RANDOM_FIELDS",
    "RANDOM_FIELDS",
    "ConnectionResult",
    "compare_live",
    "compare_live_client",
    "field_diff",
    "recordings",
    "replay_client_connection",
    "replay_connection",
    "replay_file",
    "structural_diff",
]


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
    """What the replayed side sent (the server's, or the client's for ``side`` "client")."""
    side: str = "server"
    structure: dict[str, Any] | None = None
    """For a "partial" replay: the rest of the session compared by its shape
    (`rdplic.capture.structure.compare_structure`)."""
    substituted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """What ``--serve`` sent otherwise than recorded, rdplic's keys standing in for another
    server's (`rdplic.capture.standin.Substitution`)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "connection_id": self.connection,
            "side": self.side,
            "verdict": self.status,
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
        if self.structure is not None:
            out["structure"] = self.structure
        if self.substituted:
            out["substituted"] = self.substituted
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


@functools.lru_cache(maxsize=8)
def _stand_in_key(bits: int) -> RsaPrivateKey:
    """A deterministic key of ``bits`` bits for a replay without the recorded secrets."""
    draw = random.Random(bits)
    return generate_rsa_key(max(bits, 512), lambda n: draw.randbytes(n))


def _run_server(
    recording: Recording, client_data: bytes, stand_in: StandInClient | None = None
) -> tuple[bytes, bool, str]:
    """(server bytes, secrets known, error) of the recorded session run again; with
    ``stand_in``, under stand-in keys of the recorded sizes, the client's bytes through it
    (`rdplic.capture.structure`)."""
    proprietary = recording.private_key("proprietary_key")
    licensing_key = recording.private_key("licensing_key")
    secrets = proprietary is not None and licensing_key is not None
    if stand_in is not None:
        proprietary, licensing_key = _sized_stand_in_keys(recording)
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

    hostile = hostile_connection(recording)  # rdplic serve --hostile: its mutations again
    mutator = None if hostile is None else hostile.mutate_message
    core = ServerConnection(
        connection_config, licensing, random_bytes=draw, licensing_mutator=mutator
    )
    out = bytearray()
    offset = 0
    error = ""
    for item in recording.inputs:
        op = item["op"]
        if op == "altered":
            continue
        if stand_in is not None and stand_in.stopped:
            break  # the rest of the recording answers a client the stand-in cannot be
        now = Recording.now(item)
        try:
            if op == "data":
                chunk = client_data[offset : offset + item["length"]]
                offset += item["length"]
                if stand_in is not None:
                    chunk = stand_in.client_bytes(chunk)
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
        produced = core.data_to_send()
        replay_adapter(hostile, produced)  # what the adapter mutated: the generator kept in step
        out += produced
        if stand_in is not None:
            stand_in.server_bytes(produced)
    return bytes(out), secrets, error


def _sized_stand_in_keys(recording: Recording) -> tuple[RsaPrivateKey, RsaPrivateKey]:
    """Stand-in keys of the sizes of the recorded certificates' keys (so the encrypted
    client random and premaster secret keep their lengths): proprietary, licensing."""
    sizes = []
    for certificate in (
        recording.connection_config["proprietary_certificate"],
        recording.licensing_config["certificate"],
    ):
        try:
            sizes.append(public_key_from_server_certificate(bytes.fromhex(certificate)).bits)
        except (CryptoError, PduError, ValueError):
            sizes.append(2048)
    return _stand_in_key(sizes[0]), _stand_in_key(sizes[1])


def _structure(connection: Connection, recording: Recording) -> dict[str, Any]:
    """The session run again with a stand-in client under stand-in keys, its server PDUs
    compared with the recorded ones by shape (`rdplic.capture.structure`)."""
    licensing = recording.licensing or {}
    proprietary, licensing_key = _sized_stand_in_keys(recording)
    stand_in = StandInClient(
        proprietary,
        licensing_key,
        user=licensing.get("user", ""),
        machine=licensing.get("machine", ""),
    )
    server, _secrets, error = _run_server(recording, connection.data(True), stand_in)
    replayed = _with_side(connection, server, from_client=False)
    structure = compare_structure(connection, replayed, start=0, complete=not stand_in.stopped)
    notes = [structure["detail"]] if structure.get("detail") else []
    if stand_in.stopped:
        notes.append(f"the stand-in client stopped: {stand_in.stopped}")
    if error:
        notes.append(f"the replayed server: {error}")
    if stand_in.substituted:
        notes.append("the stand-in client wrote " + ", ".join(dict.fromkeys(stand_in.substituted)))
    structure["detail"] = "; ".join(notes)
    return structure


ClientFactory = Callable[..., Any]
"""`rdplic.app.build_client`: replay gets it from its caller (the wiring sits above it)."""


def _run_client(
    recording: Recording, server_data: bytes, build_client: ClientFactory
) -> tuple[bytes, str]:
    """(client bytes, error) of a recorded simulated client run again."""
    stream = bytes(recording.random)
    position = 0

    def draw(size: int) -> bytes:
        nonlocal position
        data = stream[position : position + size]
        position += size
        return data + bytes(size - len(data))

    arguments = recording.client
    if isinstance(arguments.get("hwid"), str):
        arguments["hwid"] = bytes.fromhex(arguments["hwid"])
    store = MemoryLicenseStore(
        {
            LicenseKey(x["version"], x["scope"], x["company_name"], x["product_id"]): bytes.fromhex(
                x["blob"]
            )
            for x in recording.client_licenses
        }
    )
    core = build_client(store=store, random_bytes=draw, **arguments)
    out = bytearray()
    offset = 0
    for item in recording.inputs:
        op = item["op"]
        try:
            if op == "start":
                core.start()
            elif op == "lost":
                core.connection_lost()
            elif op == "data":
                chunk = server_data[offset : offset + item["length"]]
                offset += item["length"]
                core.receive_data(chunk, Recording.now(item))
            elif op == "tls":
                core.tls_established(Recording.now(item))
        except ConnectionProtocolError:
            pass
        except Exception as problem:
            out += core.data_to_send()
            return bytes(out), f"{op} input: {type(problem).__name__}: {problem}"
        while core.next_event() is not None:
            pass
        out += core.data_to_send()
    return bytes(out), ""


def _compare_frames(
    result: ConnectionResult,
    recorded: list[DecodedFrame],
    replayed: list[DecodedFrame],
    *,
    who: str,
    fields: frozenset[str] | None = None,
) -> list[str]:
    """The one comparison loop of every replay: fill ``result`` at the first PDU of
    ``recorded`` that ``replayed`` (what ``who`` sent) does not match, and give the fields
    compared by structure on the way.

    Without ``fields`` the comparison is exact (offline replay): the first field that
    differs, innermost layer first (a licensing field, not the MAC that covers it).  With
    ``fields`` (a live peer), those fields are compared by structure only
    (`structural_diff`) and named in the list returned; any other difference is the first
    difference.  ``result.status`` is set to "differs" when one is found; the caller turns
    it into its own verdict ("partial", ...)."""
    result.pdus = len(recorded)
    varying: list[str] = []
    for index in range(max(len(recorded), len(replayed))):
        a = recorded[index] if index < len(recorded) else None
        b = replayed[index] if index < len(replayed) else None
        if a is not None and b is not None and a.data == b.data:
            continue
        if a is None or b is None:
            result.status, result.frame = "differs", None if a is None else a.frame
            result.path = f"{result.side} PDU {index + 1}"
            result.recorded = None if a is None else a.layers
            result.replayed = None if b is None else b.layers
            result.detail = f"{who} sent fewer PDUs" if b is None else f"{who} sent more"
            return varying
        if fields is None:
            found = field_diff(a.layers[::-1], b.layers[::-1])
            if found is None:
                found = ("bytes", a.data.hex(), b.data.hex())
        else:
            found, more = structural_diff(a.layers, b.layers, fields=fields)
            varying += [f"PDU {index + 1} {name}" for name in more]
            if found is None:
                continue
        result.status, result.frame = "differs", a.frame
        result.path, result.recorded, result.replayed = found
        return varying
    return varying


def _side_frames(
    connection: Connection, from_client: bool, keys: SessionKeys | None = None
) -> list[DecodedFrame]:
    """The decoded PDUs one side of ``connection`` sent."""
    frames = decode_connection(connection, keys or SessionKeys())
    return [f for f in frames if f.from_client == from_client]


def _compare(
    result: ConnectionResult,
    connection: Connection,
    replayed: Connection,
    from_client: bool,
    keys: SessionKeys,
    exact: bool,
) -> None:
    """Fill ``result`` with the first PDU of one side that differs."""
    recorded_frames = _side_frames(connection, from_client, keys)
    replayed_frames = _side_frames(replayed, from_client, keys)
    _compare_frames(result, recorded_frames, replayed_frames, who="the replay")
    if result.status == "differs" and not exact:
        result.status = "partial"
        result.detail = (result.detail + "; " if result.detail else "") + (
            "recorded without --capture-secrets: compared as far as the server's keys "
            "were not needed"
        )


def replay_client_connection(
    path: str, connection: Connection, recording: Recording, build_client: ClientFactory
) -> ConnectionResult:
    """Run one recorded client connection again (``rdplic client --capture``) and compare
    what it sends with what the recorded client sent."""
    sent, error = _run_client(recording, connection.data(False), build_client)
    result = ConnectionResult(path, connection.index, "identical", server_bytes=sent)
    result.side = "client"
    if sent == connection.data(True):
        result.pdus = len(split_frames(sent, [(len(sent), 0)]))
    else:
        replayed = _with_side(connection, sent, from_client=True)
        # the client's own randomness holds its client random and premaster secret: its
        # encrypted fields (EncryptedHWID, ...) decrypt without the server's key
        keys = SessionKeys(client_randomness=bytes(recording.random))
        _compare(result, connection, replayed, True, keys, exact=True)
    if error and result.status == "identical":
        result.status, result.detail = "error", error
    return result


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
    replayed = _with_side(connection, server, from_client=False)
    _compare(result, connection, replayed, False, _keys(recording), exact=secrets)
    if result.status == "partial":
        result.structure = _structure(connection, recording)
    if error and result.status == "identical":
        result.status, result.detail = "error", error
    return result


def _with_side(connection: Connection, data: bytes, *, from_client: bool) -> Connection:
    """``connection`` with one side replaced by ``data`` (in the frames of that side's
    recorded chunks, the rest on the last one)."""
    chunks = [c for c in connection.chunks if c.from_client != from_client]
    offset = 0
    side = [c for c in connection.chunks if c.from_client == from_client]
    for number, chunk in enumerate(side):
        last = number == len(side) - 1
        size = len(data) - offset if last else len(chunk.data)
        chunks.append(Chunk(chunk.frame, from_client, data[offset : offset + size]))
        offset += size
    chunks.sort(key=lambda c: c.frame)
    return dataclasses.replace(connection, chunks=chunks)


def recordings(connection: Connection, side: str = "server") -> Recording | None:
    """The connection's recording of ``side`` ("server" or "client"), None without."""
    for text in connection.comments:
        try:
            recording = Recording.from_json(text)
        except (RecordingError, KeyError) as error:
            raise RecordingError(f"connection {connection.index}: {error}") from None
        if recording.side == side:
            return recording
    return None


def replay_file(
    path: Path, *, update: bool = False, build_client: ClientFactory | None = None
) -> list[ConnectionResult]:
    """Replay every recorded connection of the capture at ``path``; with ``update``,
    rewrite the capture with what the cores send now.  Client recordings need
    ``build_client`` (`rdplic.app.build_client`); without it they are "skipped"."""
    connections = read_capture(path)
    results: list[ConnectionResult] = []
    for connection in connections:
        recording = recordings(connection)
        if recording is not None:
            results.append(replay_connection(str(path), connection, recording))
        client = recordings(connection, "client")
        if client is None:
            continue
        if build_client is None:
            results.append(ConnectionResult(str(path), connection.index, "skipped", side="client"))
        else:
            results.append(replay_client_connection(str(path), connection, client, build_client))
    if update and any(r.status in ("differs", "error") for r in results):
        _rewrite(path, connections, results)
    return results


def _rewrite(path: Path, connections: list[Connection], results: list[ConnectionResult]) -> None:
    """Write the capture again, each replayed side as the cores send it now (the
    recordings unchanged: the inputs are what they were)."""
    temporary = path.with_name(path.name + ".new")
    writer = CaptureWriter(temporary)
    for connection in connections:
        stream = writer.open_stream(connection.client, connection.server)
        updated = connection
        for result in results:
            if result.connection == connection.index and result.status != "skipped":
                updated = _with_side(
                    updated, result.server_bytes, from_client=result.side == "client"
                )
        for chunk in updated.chunks:
            writer.record(stream, chunk.from_client, chunk.data)
        writer.close_stream(stream, [COMMENT_PREFIX + text for text in connection.comments])
    writer.close()
    temporary.replace(path)


RANDOM_FIELDS = frozenset(
    {
        "ServerRandom",
        "serverRandom",
        "serverCertificate",
        "ServerCertificate",
        "dataSignature",
        "MACData",
        "EncryptedPlatformChallenge",
        "EncryptedLicenseInfo",
        "EncryptedPreMasterSecret",
        "payload",
        "decoded",
        "decrypted",
    }
)
"""Fields whose value depends on the server's randomness, keys or clock (randoms,
certificates, signatures and MACs, encrypted blobs, whose serial numbers and times are
inside): a live server's are compared by structure only."""


def structural_diff(
    recorded: Any, live: Any, path: str = "", *, fields: frozenset[str] = RANDOM_FIELDS
) -> tuple[tuple[str, Any, Any] | None, list[str]]:
    """(the first real difference or None, the randomness-dependent fields that differ)
    between a recorded PDU's decoded layers and a live server's."""
    varying: list[str] = []
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key in list(recorded) + [k for k in live if k not in recorded]:
            here = _join(path, key)
            a, b = recorded.get(key, _MISSING), live.get(key, _MISSING)
            if a == b:
                continue
            if key == "decrypted" and key not in fields and (a is _MISSING) != (b is _MISSING):
                varying.append(f"{here} (encrypted on one side: no key for it)")
                continue
            if key == "decrypted" and key not in fields:
                # what decrypted is compared field by field, but for the secrets themselves
                found, more = structural_diff(a, b, here, fields=DECRYPTED_RANDOM_FIELDS)
                varying += more
                if found is not None:
                    return found, varying
                continue
            if key in fields:
                if (a is _MISSING) != (b is _MISSING) or type(a) is not type(b):
                    return (here, _plain(a), _plain(b)), varying
                varying.append(here)
                continue
            if a is _MISSING or b is _MISSING:
                return (here, _plain(a), _plain(b)), varying
            found, more = structural_diff(a, b, here, fields=fields)
            varying += more
            if found is not None:
                return found, varying
        return None, varying
    if isinstance(recorded, list) and isinstance(live, list):
        if len(recorded) != len(live):
            return (path or "layers", recorded, live), varying
        for index, (a, b) in enumerate(zip(recorded, live, strict=True)):
            name = a.get("layer") if isinstance(a, dict) and "layer" in a else str(index)
            found, more = structural_diff(a, b, _join(path, str(name)), fields=fields)
            varying += more
            if found is not None:
                return found, varying
        return None, varying
    if recorded != live:
        return (path, recorded, live), varying
    return None, varying


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value


def compare_live(
    path: str, connection: Connection, live_client: bytes, live_server: bytes
) -> ConnectionResult:
    """The recorded server side of ``connection`` against what a live server sent to the
    same client: field by field, randomness-dependent fields by structure (named in
    ``detail``).  Status "identical", "same-structure" or "differs"."""
    live = _with_side(connection, live_client, from_client=True)
    live = _with_side(live, live_server, from_client=False)
    result = ConnectionResult(path, connection.index, "identical", server_bytes=live_server)
    varying = _compare_frames(
        result,
        _side_frames(connection, False),
        _side_frames(live, False),
        who="the live server",
        fields=RANDOM_FIELDS,
    )
    if result.status == "identical" and varying:
        result.status = "same-structure"
        result.detail = "compared by structure (they depend on the server's randomness, keys "
        result.detail += "or clock): " + ", ".join(varying)
    return result


CLIENT_RANDOM_FIELDS = frozenset(
    {
        "ClientRandom",
        "encryptedClientRandom",
        "EncryptedPreMasterSecret",
        "EncryptedHWID",
        "EncryptedPlatformChallengeResponse",
        "dataSignature",
        "MACData",
        "payload",
    }
)
"""Fields of a client's PDUs that depend on its own randomness or on the session's keys.
What they hide is compared under ``decrypted`` (`DECRYPTED_RANDOM_FIELDS` by structure)."""

DECRYPTED_RANDOM_FIELDS = frozenset({"ClientRandom", "PreMasterSecret"})
"""Under ``decrypted``, the secrets a client draws: compared by structure, while the
decrypted fields (EncryptedHWID, EncryptedPlatformChallengeResponse and their MACData
check) are compared value by value."""


def compare_live_client(
    path: str,
    connection: Connection,
    live_client: bytes,
    live_server: bytes,
    *,
    recorded_keys: SessionKeys | None = None,
    live_keys: SessionKeys | None = None,
) -> ConnectionResult:
    """What a live client sent to the recorded server, against what the recorded client
    sent: field by field, the fields of `CLIENT_RANDOM_FIELDS` by structure.  With the keys
    of each session, the client's encrypted licensing fields are decrypted and compared
    value by value (the path of the one that differs and both values).  Status "identical",
    "same-structure" or "differs" (``side`` "client")."""
    live = _with_side(connection, live_client, from_client=True)
    live = _with_side(live, live_server, from_client=False)
    result = ConnectionResult(path, connection.index, "identical", side="client")
    varying = _compare_frames(
        result,
        _side_frames(connection, True, recorded_keys),
        _side_frames(live, True, live_keys),
        who="this client",
        fields=CLIENT_RANDOM_FIELDS,
    )
    if result.status == "identical" and varying:
        result.status = "same-structure"
        result.detail = "compared by structure (they depend on the client's randomness or "
        result.detail += "the session's keys): " + ", ".join(varying)
    return result
