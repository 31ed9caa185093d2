"""Replaying a connection ``rdplic serve --hostile`` served: its mutations made again.

A hostile connection's recording names its profile, seed and connection number
(`rdplic.capture.recording.Recording.hostile`).  The mutations are not replayed as bytes:
what the adapter changed came after encryption (the licensing blobs under TLS) and what the
machine changed came before its security layer encrypted it, so both are made again by the
same `rdplic.hostile.HostileConnection` (same profile, seed and number: the same generator,
the same choices) on what the server sends now, re-encrypted for whichever client is
connected.  Kept apart from `rdplic.capture.replay` so that the two grow independently.
"""

from __future__ import annotations

from rdplic.capture.recording import Recording
from rdplic.hostile import PROFILES, HostileConnection

__all__ = ["RecordedHostileServer", "hostile_connection", "hostile_server", "replay_adapter"]


def hostile_connection(recording: Recording) -> HostileConnection | None:
    """The strategy the recorded connection was served with, afresh; None for an honest
    connection (or a profile this version of rdplic does not have)."""
    run = recording.hostile
    if not run or run.get("profile") not in PROFILES:
        return None
    return HostileConnection(PROFILES[run["profile"]], int(run["seed"]), int(run["connection"]))


class RecordedHostileServer:
    """What `rdplic.net.server.RdpServerFactory` takes as ``hostile``: every connection gets
    the recorded connection's strategy (``rdplic replay --serve`` serves one client)."""

    def __init__(self, recording: Recording) -> None:
        self._recording = recording

    def connection(self) -> HostileConnection:
        made = hostile_connection(self._recording)
        assert made is not None  # INVARIANT: built only by hostile_server
        return made


def hostile_server(recording: Recording) -> RecordedHostileServer | None:
    """The factory's ``hostile`` for serving ``recording`` again, None for an honest one."""
    return None if hostile_connection(recording) is None else RecordedHostileServer(recording)


def replay_adapter(hostile: HostileConnection | None, data: bytes) -> bytes:
    """What the adapter did with ``data`` the machine produced (offline replay compares the
    machine's bytes, so the result is only needed to keep the generator in step)."""
    return data if hostile is None else hostile.mutate(data)
