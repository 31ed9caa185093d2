"""``rdplic replay --serve PORT FILE``: the recorded server, to a live client.

The connection recorded in FILE (a server recording made with ``--capture-secrets``) is
served again on 127.0.0.1:PORT to the next client that connects: a server connection
machine with the recorded settings, certificates, private keys and host, drawing the
recorded random bytes (so the same server random and challenge) and answering the licensing
core's questions with the recorded decisions in order (so the same license), while the
keys are derived from this client's own randoms and premaster secret: the client under test
meets the License Request, Platform Challenge and New License that were sent once,
re-encrypted for it.  When the connection ends, what this client sent is compared with what
the recorded client sent (`rdplic.capture.replay.structural_diff`: the fields that depend on
the client's own randomness by structure).

A connection ``rdplic serve --hostile`` served is served with its mutations made again
(`rdplic.capture.hostile_replay`: the recorded profile, seed and connection number), on the
PDUs re-encrypted for this client, not replayed as the recorded bytes.

A capture of another server (Windows', or any without an rdplic recording) is played back by
`rdplic.capture.standin.StandInServer` instead (`serve_stand_in`), with rdplic's keys (a
throwaway identity) standing in for the recorded server's certificates; the report lists
each substitution.  An rdplic recording made without ``--capture-secrets`` is not served:
its server core would need the keys it was recorded with.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.errors import UsageError

__all__ = ["replay_serve"]


class _Collect:
    def __init__(self) -> None:
        self.sent: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}

    def record(self, stream_id: int, from_client: bool, data: bytes) -> None:
        self.sent[from_client] += data


def replay_serve(path: Path, port: int, *, timeout: float = 120.0, ready: Any = print) -> Any:
    """Serve the recorded server of ``path`` to one client on 127.0.0.1:``port``; the
    comparison of that client with the recorded one."""
    import dataclasses

    from rdplic.app import install_reactor

    install_reactor()
    from twisted.internet import defer

    from rdplic.capture.decode import SessionKeys
    from rdplic.capture.hostile_replay import hostile_server
    from rdplic.capture.pcap import read_capture
    from rdplic.capture.recorder import RecordingCore
    from rdplic.capture.recording import Recording
    from rdplic.capture.replay import compare_live_client, recordings
    from rdplic.core.connection_server import ServerConnection
    from rdplic.core.licensing_server import LicensingServer

    connections = read_capture(path)
    found = [(c, r) for c in connections if (r := recordings(c)) is not None]
    if not found:
        return serve_stand_in(path, port, connections, timeout=timeout, ready=ready)
    connection, recording = found[-1]
    proprietary = recording.private_key("proprietary_key")
    licensing_key = recording.private_key("licensing_key")
    if proprietary is None or licensing_key is None:
        raise UsageError(f"{path}: recorded without --capture-secrets; its server cannot be served")
    connection_config = recording.connection_settings(proprietary)
    licensing_config = recording.licensing_settings(licensing_key)
    host = recording.host()
    decisions = [Recording.decision(i) for i in recording.inputs if i["op"] == "decide"]
    stream = bytes(recording.random)
    position = 0

    def draw(size: int) -> bytes:
        nonlocal position
        data = stream[position : position + size]
        position += size
        return data + os.urandom(size - len(data))

    collect = _Collect()

    def make_core(hostile: Any = None) -> Any:
        tap = RecordingCore(collect, Recording.for_client({}, []), draw)  # type: ignore[arg-type]

        def licensing(user: str, machine: str, preamble: int) -> LicensingServer:
            config = licensing_config
            if preamble == 2:
                config = dataclasses.replace(config, preamble_version=2)
            assert host is not None
            return LicensingServer(
                config,
                host,
                random_bytes=tap.random_bytes,
                client_user_name=user,
                client_machine_name=machine,
            )

        mutator = None if hostile is None else hostile.mutate_message
        return tap.attach(
            ServerConnection(
                connection_config,
                licensing,
                random_bytes=tap.random_bytes,
                licensing_mutator=mutator,
            )
        )

    class RecordedDecider:
        """The recorded decisions, in order, whatever the question."""

        def decide(self, question: Any, now: datetime) -> defer.Deferred[Any]:
            if not decisions:
                return defer.fail(RuntimeError("the recording holds no more decisions"))
            return defer.succeed(decisions.pop(0))

    port = _serve_one(
        path,
        port,
        make_core,
        RecordedDecider(),
        connection_config.allow_tls,
        timeout,
        ready,
        hostile_server(recording),
    )
    if not collect.sent[True]:
        raise UsageError(f"no client connected to port {port} within {timeout:g} s")
    keys = SessionKeys(proprietary, (licensing_key, proprietary))
    return compare_live_client(
        str(path),
        connection,
        bytes(collect.sent[True]),
        bytes(collect.sent[False]),
        recorded_keys=keys,
        live_keys=keys,
    )


def _serve_one(
    path: Path,
    port: int,
    make_core: Any,
    decider: Any,
    tls: bool,
    timeout: float,
    ready: Any,
    hostile: Any = None,
) -> int:
    """Serve one client on 127.0.0.1:``port`` with a core of ``make_core``, until its
    connection ends or ``timeout`` passes (``hostile``: the factory's, for a recorded
    ``rdplic serve --hostile`` connection); the port it listened on (``port`` 0: a free
    one)."""
    from rdplic.app import install_reactor

    reactor = install_reactor()
    from twisted.internet import defer

    from rdplic.net.server import RdpServerFactory, ServerLimits, listen_tcp
    from rdplic.net.tls import load_or_create_certificate, server_tls_context

    context = None
    if tls:
        state = Path(tempfile.mkdtemp(prefix="rdplic-replay-serve-"))
        context = server_tls_context(load_or_create_certificate(state))
    finished: defer.Deferred[None] = defer.Deferred()

    class OneConnection(RdpServerFactory):
        def connection_closed(self, protocol: Any) -> None:
            super().connection_closed(protocol)
            if not finished.called:
                finished.callback(None)

    factory = OneConnection(
        make_core,
        decider,
        now=lambda: datetime.now(UTC),
        reactor=reactor,
        tls=context,
        limits=ServerLimits(max_connections=1, total_timeout=timeout),
        # served by rdplic serve --hostile: the recorded profile, seed and connection number
        # mutate what is sent again, after this client's re-encryption
        hostile=hostile,
    )
    listening = listen_tcp(reactor, port, factory, interface="127.0.0.1")
    port = listening.getHost().port
    ready(f"serving the recorded server of {path} on 127.0.0.1:{port}")

    def give_up() -> None:
        if not finished.called:
            finished.callback(None)

    expire = reactor.callLater(timeout, give_up)
    finished.addBoth(lambda _: expire.active() and expire.cancel())
    finished.addBoth(lambda _: listening.stopListening())
    finished.addBoth(lambda _: reactor.stop())
    reactor.run()
    return int(port)


def serve_stand_in(
    path: Path, port: int, connections: Any, *, timeout: float = 120.0, ready: Any = print
) -> Any:
    """Serve the recorded server of a capture of another server (no rdplic recording) to one
    client, rdplic's keys standing in for its certificates (`rdplic.capture.standin`); the
    comparison of that client with the recorded one, with the substitutions."""
    from rdplic.capture.decode import SessionKeys
    from rdplic.capture.pcap import tls_start
    from rdplic.capture.recorder import RecordingCore
    from rdplic.capture.recording import Recording
    from rdplic.capture.replay import compare_live_client
    from rdplic.capture.standin import (
        StandIn,
        StandInServer,
        selects_tls,
        served_connection,
    )
    from rdplic.identity import ServerIdentity

    connection = served_connection(connections)
    if connection is None:
        raise UsageError(f"{path}: no server side to serve")
    if connection.tls != "decrypted" and tls_start(connection, True) is not None:
        raise UsageError(
            f"{path}: its TLS records could not be decrypted (tshark and the secrets "
            "embedded in the capture are needed), so its server cannot be played back"
        )
    identity = ServerIdentity.load_or_create(
        Path(tempfile.mkdtemp(prefix="rdplic-replay-serve-")),
        proprietary_key_bits=StandInServer.key_bits(connection),
    )
    stand_in = StandIn(
        identity.proprietary_key,
        identity.proprietary_certificate,
        identity.terminal_server_key,
        identity.x509_chain,
    )
    collect = _Collect()
    served: list[StandInServer] = []

    def make_core() -> Any:
        core = StandInServer(connection, stand_in)
        served.append(core)
        tap = RecordingCore(collect, Recording.for_client({}, []), os.urandom)  # type: ignore[arg-type]
        return tap.attach(core)

    class NoDecisions:
        """A played-back server asks the license server nothing."""

        def decide(self, question: Any, now: datetime) -> Any:
            raise AssertionError("a played-back server asks no question")

    port = _serve_one(path, port, make_core, NoDecisions(), selects_tls(connection), timeout, ready)
    if not collect.sent[True]:
        raise UsageError(f"no client connected to port {port} within {timeout:g} s")
    result = compare_live_client(
        str(path),
        connection,
        bytes(collect.sent[True]),
        bytes(collect.sent[False]),
        live_keys=SessionKeys(
            identity.proprietary_key, (identity.terminal_server_key, identity.proprietary_key)
        ),
    )
    result.substituted = [s.to_json() for s in served[0].substitutions] if served else []
    return result
