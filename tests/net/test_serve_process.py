"""``rdplic serve`` as a process: TLS with its persistent certificate, key log, capture file,
limits, and a graceful stop on SIGTERM.  The client is the project's own core over a
blocking socket (wrapped in TLS by Python's ssl module when the server selects it)."""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rdplic.app import build_client
from rdplic.capture.pcap import read_capture
from rdplic.capture.replay import replay_file
from rdplic.core import events as lic
from rdplic.core.connection_client import ClientConnection
from rdplic.core.connection_events import ConnectionEnded, SecurityNegotiated
from rdplic.testing.serve import ServeProcess

ROOT = Path(__file__).resolve().parents[2]


def Serve(state_dir: Path, *extra: str, **options: Any) -> ServeProcess:
    """``rdplic serve`` with a text log, as a user starts it."""
    return ServeProcess(state_dir, *extra, log_format="text", **options)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "state"


def client(requested: int | None, name: str = "NETTEST", *, password: str = "") -> ClientConnection:
    """A FreeRDP-like simulated device with a random hardware id of its own."""
    return build_client(
        machine_name=name,
        user_name="tester",
        password=password,
        platform="freerdp",
        hwid=random.Random(name).randbytes(20),
        security={None: "rdp-legacy", 0: "rdp", 1: "tls"}[requested],  # type: ignore[arg-type]
    )


def run_client(port: int, core: ClientConnection, timeout: float = 20.0) -> list[object]:
    """Drive ``core`` over a blocking socket until the server ends the connection."""
    events: list[object] = []
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        core.start()
        sock.sendall(core.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                core.connection_lost()
            else:
                core.receive_data(data, datetime.now(UTC))
            while (event := core.next_event()) is not None:
                events.append(event)
                if isinstance(event, SecurityNegotiated) and event.start_tls:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    assert core.trailing_data == b""
                    sock = context.wrap_socket(sock)
                    core.tls_established(datetime.now(UTC))
            out = core.data_to_send()
            if out:
                sock.sendall(out)
            if any(isinstance(e, ConnectionEnded) for e in events):
                return events
    finally:
        sock.close()


def test_tls_session_keylog_capture_and_certificate_persistence(state_dir: Path) -> None:
    """A TLS client is licensed; the key log gets its secrets, the capture its PDUs, and the
    certificate made on first start is the one used after a restart."""
    keylog = state_dir.parent / "keys.log"
    capture = state_dir.parent / "sessions.pcapng"
    serve = Serve(
        state_dir, "--tls-keylog", str(keylog), "--capture", str(capture), "--capture-secrets"
    )
    try:
        events = run_client(serve.port, client(1))
        assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    finally:
        assert serve.stop() == 0
    assert b"CLIENT_RANDOM" in keylog.read_bytes() or b"SERVER_HANDSHAKE" in keylog.read_bytes()
    certificate = state_dir / "tls" / "rdp-server.crt"
    first = certificate.read_bytes()
    assert (state_dir / "tls" / "rdp-server.key").stat().st_mode & 0o777 == 0o600
    (stream,) = read_capture(capture)
    assert stream.data(True)[:2] == b"\x03\x00"  # the Connection Request, in clear
    assert b"Cookie: mstshash=" in stream.data(True)[:64]
    assert len(stream.data(False)) > 1000  # MCS Connect Response, licensing PDUs, in clear
    # recorded with its secrets, the session runs again through the cores byte for byte
    assert [r.status for r in replay_file(capture)] == ["identical"]
    serve = Serve(state_dir)
    try:
        events = run_client(serve.port, client(1))
        assert any(isinstance(e, lic.NewLicenseReceived) for e in events)
    finally:
        serve.stop()
    assert certificate.read_bytes() == first


def test_sigterm_lets_handshakes_in_flight_finish(state_dir: Path) -> None:
    """After SIGTERM no new connection is accepted, the one in flight completes, and the
    server exits 0 having closed its store."""
    serve = Serve(state_dir, "--security", "rdp")
    core = client(0, "INFLIGHT")
    sock = socket.create_connection(("127.0.0.1", serve.port), timeout=20)
    core.start()
    sock.sendall(core.data_to_send())
    core.receive_data(sock.recv(65536), datetime.now(UTC))  # Connection Confirm
    serve.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", serve.port), timeout=2).close()
    events: list[object] = []
    sock.sendall(core.data_to_send())
    while not any(isinstance(e, ConnectionEnded) for e in events):
        data = sock.recv(65536)
        if not data:
            core.connection_lost()
        else:
            core.receive_data(data, datetime.now(UTC))
        while (event := core.next_event()) is not None:
            events.append(event)
        if out := core.data_to_send():
            sock.sendall(out)
    sock.close()
    assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    assert serve.process.wait(timeout=30) == 0
    assert "store closed" in serve.log_text()


def test_a_license_received_is_in_the_store_even_if_the_server_is_killed(
    tmp_path: Path,
) -> None:
    """Licenses the clients received are all in the store after a SIGKILL right after."""
    import json

    state = tmp_path / "state"
    serve = Serve(state, "--security", "rdp")
    names = [f"KILLED{i}" for i in range(3)]
    try:
        for name in names:
            events = run_client(serve.port, client(0, name))
            assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    finally:
        serve.process.send_signal(signal.SIGKILL)
        serve.process.wait(timeout=30)
    command = ["license", "list", "--json", "--state-dir", str(state)]
    listed = subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *command],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    machines = {entry["client_name"] for entry in json.loads(listed.stdout)}
    assert set(names) <= machines


def test_a_misbehaving_client_does_not_affect_the_others(state_dir: Path) -> None:
    """An oversized frame and garbage close their own connections; a good client still gets
    licensed, and the limit on open connections refuses the one too many."""
    serve = Serve(state_dir, "--max-connections", "2", "--max-frame-size", "4096")
    try:
        big = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        big.sendall(b"\x03\x00\xff\xff" + bytes(100))
        assert big.recv(100) == b""  # closed without an answer
        big.close()
        garbage = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        garbage.sendall(b"\x17\x03\x01\x00\x10" + os.urandom(16))
        assert garbage.recv(100) == b""
        garbage.close()
        idle_a = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        idle_b = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        assert extra.recv(100) == b""  # over the limit: closed at once
        extra.close()
        idle_a.close()
        idle_b.close()
        time.sleep(0.3)
        events = run_client(serve.port, client(0, "GOOD"))
        assert any(isinstance(e, lic.NewLicenseReceived) for e in events)
    finally:
        assert serve.stop() == 0
    log = serve.log_text()
    assert "Traceback" not in log
    assert "outcome=protocol_error" in log and "refusing" in log


@pytest.mark.parametrize(
    "options",
    [("--port", "70000"), ("--max-connections", "0"), ("--max-frame-size", "100")],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, options: tuple[str, ...]) -> None:
    """A bad option is refused before anything starts: exit status 2, one line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", "serve", "--state-dir", str(tmp_path), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rdplic: error:") and result.stderr.count("\n") == 1
