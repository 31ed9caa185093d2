"""Recording sessions as the adapter runs them: ``rdplic serve --capture FILE``.

The adapter (`rdplic.net.server`) talks to a `RecordingCore` instead of the connection
machine itself: it passes every call through and notes, in the connection's `Recording`,
what the machine was given (the bytes and how they were split, the clock value of each call,
the decisions) and, through `RecordingCore.random_bytes`, the randomness it drew; the bytes
it received and produced become the capture's TCP stream.  What the machine sees is what is
recorded: under TLS that is the plaintext after the adapter's own TLS termination (the
records themselves and their keys are not kept; ``--tls-keylog`` and a real packet capture
give those), so a TLS session replays and decodes like a Standard RDP Security one.

`CaptureRecorder.open_stream` / ``record`` / ``close_stream`` keep the shape of the writer
the adapter used before.  No Twisted here: a client adapter (``rdplic client --capture``)
records the same way.

Hostile peers (bytes sent that differ from what the machine produced) call
`RecordingCore.altered`; the difference is kept in the recording, and replay compares what
the machine produces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rdplic.capture.decode import SessionKeys, derive_secrets
from rdplic.capture.pcap import COMMENT_PREFIX, CaptureWriter, Chunk, Connection
from rdplic.capture.recording import Recording
from rdplic.core import events as lic
from rdplic.core.connection_events import ConnectionEnded
from rdplic.core.decisions import Decision
from rdplic.vocabulary import Outcome

__all__ = ["CaptureRecorder", "RecordingClientCore", "RecordingCore"]

RandomBytes = Callable[[int], bytes]


def _outcome(event: object) -> str | None:
    if isinstance(event, lic.NewLicenseIssued):
        return Outcome.NEW_LICENSE.value
    if isinstance(event, lic.LicenseUpgraded):
        return (Outcome.REISSUED if event.reissued_old else Outcome.UPGRADED).value
    if isinstance(event, lic.ValidClient):
        return Outcome.VALID_CLIENT.value
    if isinstance(event, lic.LicensingFailed):
        refused = event.origin is lic.FailureOrigin.REFUSED
        return (Outcome.REFUSED if refused else Outcome.PROTOCOL_ERROR).value
    return None


class _Recording:
    """What the server and client recording machines share: the machine they wrap answers
    everything they do not record, and hostile mutations and TLS hand-over pass through."""

    recording: Recording
    _core: Any
    _trailing: bytes

    def altered(self, produced: bytes, sent: bytes) -> None:
        """The adapter sent ``sent`` where the machine produced ``produced``."""
        self.recording.altered(produced, sent)

    @property
    def awaiting_tls(self) -> bool:
        return bool(self._core.awaiting_tls)

    @property
    def trailing_data(self) -> bytes:
        """What the machine handed over after the frame that selected TLS, once."""
        out, self._trailing = self._trailing + self._core.trailing_data, b""
        return bytes(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)


class RecordingCore(_Recording):
    """A server connection machine with its recording (see the module docstring).

    Make it with `CaptureRecorder.server_core`; the machine must draw its randomness from
    `random_bytes`.
    """

    def __init__(self, recorder: CaptureRecorder, recording: Recording, draw: RandomBytes) -> None:
        self.recording = recording
        self._recorder = recorder
        self._draw = draw
        self._core: Any = None
        self._trailing = b""
        self.stream_id = 0
        self.sent: list[Chunk] = []
        """What each side sent, kept only for ``--capture-secrets`` (its derived secrets)."""

    def attach(self, core: Any) -> RecordingCore:
        self._core = core
        return self

    def random_bytes(self, size: int) -> bytes:
        data = self._draw(size)
        self.recording.random += data
        return data

    # -- the machine's interface, recorded --------------------------------------------

    def receive_data(self, data: bytes, now: datetime) -> None:
        core = self._core
        try:
            core.receive_data(data, now)
        finally:
            # Bytes after the Connection Request that belong to TLS are not the machine's;
            # the machine hands them over once, so they are kept for the adapter.
            if core.awaiting_tls:
                self._trailing += core.trailing_data
            trailing = len(self._trailing)
            taken = data[: len(data) - trailing] if trailing else data
            self.recording.data(len(taken), now)
            self._recorder.record(self.stream_id, True, taken)
            if self.recording.secrets is not None and taken:
                self.sent.append(Chunk(len(self.sent) + 1, True, taken))

    def data_to_send(self) -> bytes:
        data: bytes = self._core.data_to_send()
        if data:
            self._recorder.record(self.stream_id, False, data)
            if self.recording.secrets is not None:
                self.sent.append(Chunk(len(self.sent) + 1, False, data))
        return data

    def next_event(self) -> object | None:
        event: object | None = self._core.next_event()
        outcome = _outcome(event)
        if outcome is not None:
            self.recording.outcome = outcome
        elif isinstance(event, ConnectionEnded) and not self.recording.outcome:
            self.recording.outcome = Outcome.ENDED.value
        return event

    def tls_established(self, now: datetime) -> None:
        self.recording.tls(now)
        self._core.tls_established(now)

    def decide(self, decision: Decision, now: datetime) -> None:
        self.recording.decide(decision, now)
        self._core.decide(decision, now)

    def decision_failed(self, reason: str, now: datetime) -> None:
        self.recording.decision_failed(reason, now)
        self._core.decision_failed(reason, now)


class RecordingClientCore(_Recording):
    """A simulated client's connection machine with its recording (``rdplic client
    --capture``): the same as `RecordingCore`, seen from the other end.  Make it with
    `CaptureRecorder.client_core` (or `rdplic.app.build_recorded_client`)."""

    def __init__(
        self,
        recorder: CaptureRecorder,
        recording: Recording,
        draw: RandomBytes,
        *,
        write_bytes: bool = True,
    ) -> None:
        self.recording = recording
        self._recorder = recorder
        self._draw = draw
        self._core: Any = None
        self._trailing = b""
        self._write_bytes = write_bytes
        """False when the adapter writes the bytes itself (`rdplic.net.client`)."""
        self.stream_id = 0

    def attach(self, core: Any) -> RecordingClientCore:
        self._core = core
        return self

    def random_bytes(self, size: int) -> bytes:
        data = self._draw(size)
        self.recording.random += data
        return data

    def start(self) -> None:
        self.recording.start()
        self._core.start()

    def receive_data(self, data: bytes, now: datetime) -> None:
        core = self._core
        try:
            core.receive_data(data, now)
        finally:
            if core.awaiting_tls:
                self._trailing += core.trailing_data
            trailing = len(self._trailing)
            taken = data[: len(data) - trailing] if trailing else data
            self.recording.data(len(taken), now)
            if self._write_bytes:
                self._recorder.record(self.stream_id, False, taken)

    def data_to_send(self) -> bytes:
        data: bytes = self._core.data_to_send()
        if data and self._write_bytes:
            self._recorder.record(self.stream_id, True, data)
        return data

    def next_event(self) -> object | None:
        event: object | None = self._core.next_event()
        if isinstance(event, lic.NewLicenseReceived):
            self.recording.outcome = Outcome.NEW_LICENSE.value
        elif isinstance(event, lic.UpgradedLicenseReceived):
            self.recording.outcome = Outcome.UPGRADED.value
        elif isinstance(event, lic.ValidClient):
            self.recording.outcome = Outcome.VALID_CLIENT.value
        elif isinstance(event, lic.LicensingFailed):
            self.recording.outcome = Outcome.REFUSED.value
        return event

    def tls_established(self, now: datetime) -> None:
        self.recording.tls(now)
        self._core.tls_established(now)

    def connection_lost(self) -> None:
        self.recording.lost()
        self._core.connection_lost()


class CaptureRecorder:
    """One capture file and the recordings of its connections.

    :param secrets: keep the server's private keys and the session secrets in each
        recording (``--capture-secrets``); never the default
    """

    def __init__(self, path: Path, *, secrets: bool = False) -> None:
        self.path = Path(path)
        self.secrets = secrets
        self._writer = CaptureWriter(self.path)
        self._cores: dict[int, RecordingCore | RecordingClientCore] = {}

    def server_core(
        self,
        connection_config: Any,
        licensing_config: Any,
        random_bytes: RandomBytes,
        make: Callable[[RecordingCore], Any],
    ) -> RecordingCore:
        """A `RecordingCore` around the machine ``make(recording_core)`` builds (it must
        take ``recording_core.random_bytes``, which draws from ``random_bytes``, as its
        randomness)."""
        recording = Recording.for_server(connection_config, licensing_config, secrets=self.secrets)
        core = RecordingCore(self, recording, random_bytes)
        return core.attach(make(core))

    def client_core(
        self,
        client: dict[str, Any],
        licenses: list[dict[str, Any]],
        random_bytes: RandomBytes,
        make: Callable[[RecordingClientCore], Any],
        *,
        write_bytes: bool = True,
    ) -> RecordingClientCore:
        """A `RecordingClientCore` around the machine ``make(recording_core)`` builds (it
        must draw from ``recording_core.random_bytes``); ``write_bytes`` False when the
        adapter writes the stream's bytes itself."""
        recording = Recording.for_client(client, licenses)
        core = RecordingClientCore(self, recording, random_bytes, write_bytes=write_bytes)
        return core.attach(make(core))

    def open_stream(
        self, client: tuple[str, int], server: tuple[str, int], core: Any = None
    ) -> int:
        """Start a connection in the file; ``core`` is its `RecordingCore` (if any)."""
        stream_id = self._writer.open_stream(client, server)
        if isinstance(core, RecordingCore | RecordingClientCore):
            core.stream_id = stream_id
            self._cores[stream_id] = core
        return stream_id

    def record(self, stream_id: int, from_client: bool, data: bytes) -> None:
        if stream_id and data:
            self._writer.record(stream_id, from_client, data)

    def close_stream(self, stream_id: int) -> None:
        """End a connection: its recording goes in a comment on the server's FIN."""
        core = self._cores.pop(stream_id, None)
        comment = None
        if core is not None:
            recording = core.recording
            if isinstance(core, RecordingCore) and recording.secrets is not None:
                recording.secrets["session"] = _derived(core)
            comment = COMMENT_PREFIX + recording.to_json()
        self._writer.close_stream(stream_id, comment)

    def close(self) -> None:
        for stream_id in list(self._cores):
            self.close_stream(stream_id)
        self._writer.close()


def _derived(core: RecordingCore) -> dict[str, Any]:
    """The session secrets of a finished connection, from its bytes and the server's keys."""
    recording = core.recording
    proprietary = recording.private_key("proprietary_key")
    licensing = recording.private_key("licensing_key")
    connection = Connection(core.stream_id, ("", 0), ("", 0), chunks=core.sent)
    keys = SessionKeys(proprietary, tuple(k for k in (licensing, proprietary) if k is not None))
    try:
        return derive_secrets(connection, keys)
    except Exception as error:  # a broken session must not lose its recording
        return {"error": f"{type(error).__name__}: {error}"}
