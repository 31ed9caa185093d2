"""``rdplic replay --target HOST:PORT``: the recorded client, against a live RDP server.

For each capture that holds a client's own recording (``.client.pcapng``, made by
`rdplic.app.build_recorded_client`), the client is rebuilt as it was (its arguments, the
licenses its store held, the random bytes it drew; fresh ones once those run out), connects
to HOST:PORT over TCP (and TLS) with `rdplic.net.client.license_once`, and the server's
answers are compared with the recorded server's by `rdplic.capture.replay.compare_live`:
field by field, with the fields that depend on the server's randomness, keys or clock
compared by structure and named in the report.  HOST must be a loopback address unless
``--allow-remote`` is given: a replay sends a recorded client's bytes (user name, password).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.errors import UsageError

__all__ = ["parse_target", "replay_live"]


def parse_target(text: str, allow_remote: bool) -> tuple[str, int]:
    """HOST:PORT, checked: a port, and a loopback host unless ``allow_remote``."""
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--target {text!r} is not HOST:PORT")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise UsageError(f"--target {host}: {error.strerror}") from None
    if not allow_remote and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise UsageError(f"--target {host} is not a loopback address (add --allow-remote)")
    return host, int(port_text)


class _Collect:
    """Stands in for a capture file: keeps what each side sent."""

    def __init__(self) -> None:
        self.sent: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}

    def record(self, stream_id: int, from_client: bool, data: bytes) -> None:
        self.sent[from_client] += data


def replay_live(files: list[Path], host: str, port: int, timeout: float = 30.0) -> list[Any]:
    """Run each capture's recorded client against ``host:port``; the comparisons."""
    from rdplic.app import build_client, install_reactor

    reactor = install_reactor()
    from twisted.internet import defer

    from rdplic.capture.pcap import read_capture
    from rdplic.capture.recorder import RecordingClientCore
    from rdplic.capture.recording import Recording
    from rdplic.capture.replay import compare_live, recordings
    from rdplic.core.client_store import LicenseKey, MemoryLicenseStore
    from rdplic.net.client import license_once

    jobs = []
    for path in files:
        for connection in read_capture(path):
            recording = recordings(connection, "client")
            if recording is not None:
                jobs.append((path, connection, recording))
    if not jobs:
        raise UsageError("no capture holds a client's recording (.client.pcapng) to act out")
    results: list[Any] = []

    def client(recording: Recording, collect: _Collect) -> Any:
        stream = bytes(recording.random)
        position = 0

        def draw(size: int) -> bytes:
            nonlocal position
            data = stream[position : position + size]
            position += size
            return data + os.urandom(size - len(data))

        arguments = recording.client
        if isinstance(arguments.get("hwid"), str):
            arguments["hwid"] = bytes.fromhex(arguments["hwid"])
        store = MemoryLicenseStore(
            {
                LicenseKey(
                    x["version"], x["scope"], x["company_name"], x["product_id"]
                ): bytes.fromhex(x["blob"])
                for x in recording.client_licenses
            }
        )
        tap = RecordingClientCore(collect, Recording.for_client({}, []), draw)  # type: ignore[arg-type]
        return tap.attach(build_client(store=store, random_bytes=tap.random_bytes, **arguments))

    @defer.inlineCallbacks
    def run_all() -> Any:
        for path, connection, recording in jobs:
            collect = _Collect()
            core = client(recording, collect)
            yield license_once(
                reactor, host, port, core, timeout=timeout, now=lambda: datetime.now(UTC)
            )
            results.append(
                compare_live(
                    str(path), connection, bytes(collect.sent[True]), bytes(collect.sent[False])
                )
            )

    failure: list[Any] = []
    done = run_all()
    done.addErrback(failure.append)
    done.addBoth(lambda _: reactor.stop())
    reactor.run()
    if failure:
        failure[0].raiseException()
    return results
