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

Only rdplic's own captures recorded with secrets can be served: for others, nobody holds
the recorded server's private key.
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

    reactor = install_reactor()
    from twisted.internet import defer

    from rdplic.capture.decode import SessionKeys
    from rdplic.capture.pcap import read_capture
    from rdplic.capture.recorder import RecordingCore
    from rdplic.capture.recording import Recording
    from rdplic.capture.replay import compare_live_client, recordings
    from rdplic.core.connection_server import ServerConnection
    from rdplic.core.licensing_server import LicensingServer
    from rdplic.net.server import RdpServerFactory, ServerLimits, listen_tcp
    from rdplic.net.tls import load_or_create_certificate, server_tls_context

    found = [(c, r) for c in read_capture(path) if (r := recordings(c)) is not None]
    if not found:
        raise UsageError(f"{path}: no server recording to serve")
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

    def make_core() -> Any:
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

        return tap.attach(
            ServerConnection(connection_config, licensing, random_bytes=tap.random_bytes)
        )

    class RecordedDecider:
        """The recorded decisions, in order, whatever the question."""

        def decide(self, question: Any, now: datetime) -> defer.Deferred[Any]:
            if not decisions:
                return defer.fail(RuntimeError("the recording holds no more decisions"))
            return defer.succeed(decisions.pop(0))

    tls = None
    if connection_config.allow_tls:
        state = Path(tempfile.mkdtemp(prefix="rdplic-replay-serve-"))
        tls = server_tls_context(load_or_create_certificate(state))
    finished: defer.Deferred[None] = defer.Deferred()

    class OneConnection(RdpServerFactory):
        def connection_closed(self, protocol: Any) -> None:
            super().connection_closed(protocol)
            if not finished.called:
                finished.callback(None)

    factory = OneConnection(
        make_core,
        RecordedDecider(),
        now=lambda: datetime.now(UTC),
        reactor=reactor,
        tls=tls,
        limits=ServerLimits(max_connections=1, total_timeout=timeout),
    )
    listening = listen_tcp(reactor, port, factory, interface="127.0.0.1")
    ready(f"serving the recorded server of {path} on 127.0.0.1:{listening.getHost().port}")

    def give_up() -> None:
        if not finished.called:
            finished.callback(None)

    expire = reactor.callLater(timeout, give_up)
    finished.addBoth(lambda _: expire.active() and expire.cancel())
    finished.addBoth(lambda _: listening.stopListening())
    finished.addBoth(lambda _: reactor.stop())
    reactor.run()
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
