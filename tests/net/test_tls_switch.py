"""The switch to TLS through real sockets: bytes a client sends before the TLS handshake has
completed are never treated as protected (the STARTTLS injection class, Postfix
CVE-2011-0411), and a ClientHello sent with the Connection Request still works."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_serve_process import ROOT, Serve, client

from rdplic.app import build_server
from rdplic.core import events as lic
from rdplic.core.connection_client import ClientConnection
from rdplic.core.connection_events import ConnectionEnded, SecurityNegotiated

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "Inj3cted-Pa55"


def _tls_client_bytes(tmp: Path) -> tuple[bytes, bytes]:
    """A client's Connection Request asking for TLS, and everything it would send next
    (Connect Initial to New License Request) as TLS plaintext, recorded in memory."""
    app = build_server(tmp / "memory-state")
    server = app.make_connection()
    core = client(1, "INJECTOR", password=PASSWORD)
    core.start()
    request = core.data_to_send()
    later = b""
    server.receive_data(request, NOW)
    core.receive_data(server.data_to_send(), NOW)
    server.tls_established(NOW)
    core.tls_established(NOW)
    for _ in range(50):
        out = core.data_to_send()
        later += out
        if out:
            server.receive_data(out, NOW)
        while (event := server.next_event()) is not None:
            if isinstance(event, lic.DecisionNeeded):
                server.decide(app.policy.decide(event, NOW).decision, NOW)
        back = server.data_to_send()
        if back:
            core.receive_data(back, NOW)
        if not out and not back:
            break
    app.close()
    # Under TLS the Client Info carries no encryption of its own: the password is in clear.
    assert PASSWORD.encode("utf-16-le") in later
    return request, later


def _license_names(state: Path) -> set[str]:
    command = ["license", "list", "--json", "--state-dir", str(state)]
    listed = subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *command],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return {entry["client_name"] for entry in json.loads(listed.stdout)}


@pytest.mark.parametrize("security", ["rdp,tls", "tls"])
def test_plaintext_after_a_tls_request_is_never_processed(tmp_path: Path, security: str) -> None:
    """A client that asks for TLS and sends its whole plaintext connection sequence in the
    same write gets the Connection Confirm and nothing else: its Client Info is not read,
    no License Request goes out, nothing is issued, and the log says the TLS handshake
    failed."""
    request, later = _tls_client_bytes(tmp_path)
    state = tmp_path / "state"
    serve = Serve(state, "--security", security, "--log-level", "debug")
    try:
        sock = socket.create_connection(("127.0.0.1", serve.port), timeout=10)
        sock.sendall(request + later)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        sock.close()
    finally:
        assert serve.stop() == 0
    confirm_size = int.from_bytes(received[2:4], "big")
    assert received[:2] == b"\x03\x00" and confirm_size == 19
    rest = received[confirm_size:]
    # At most a TLS alert record (content type 21): no RDP frame, no License Request.
    assert rest == b"" or rest[0] == 0x15, rest[:16].hex()
    log = serve.log_text()
    assert "outcome=tls_failed" in log
    (line,) = [line for line in log.splitlines() if "outcome=" in line]
    assert "client='' user='' hwid=- " in line  # neither GCC client data nor Client Info read
    assert "INJECTOR" not in log
    assert "ClientInfoReceived" not in log and "ClientDataReceived" not in log
    assert PASSWORD not in log and PASSWORD.encode("utf-16-le").hex() not in log
    assert "INJECTOR" not in _license_names(state)


class _MemoryTls:
    """A TLS client over a blocking socket, by hand (ssl.MemoryBIO), so that the test decides
    what goes into each write."""

    def __init__(self, sock: socket.socket) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing)
        self.sock = sock

    def client_hello(self) -> bytes:
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def finish_handshake(self, received: bytes) -> None:
        self.incoming.write(received)
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self.incoming.write(self.sock.recv(65536))
                continue
            self.sock.sendall(self.outgoing.read())
            return

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def recv(self) -> bytes:
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b""
                self.incoming.write(chunk)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""


def test_a_client_hello_in_the_same_write_as_the_request_works(tmp_path: Path) -> None:
    """A ClientHello that arrives with the Connection Request goes to the TLS layer (as with
    Windows), and the client is licensed over the TLS connection that follows."""
    serve = Serve(tmp_path / "state", "--security", "tls")
    core: ClientConnection = client(1, "EARLYHELLO")
    events: list[object] = []
    try:
        sock = socket.create_connection(("127.0.0.1", serve.port), timeout=20)
        tls = _MemoryTls(sock)
        core.start()
        sock.sendall(core.data_to_send() + tls.client_hello())
        core.receive_data(sock.recv(19), NOW)  # the Connection Confirm alone
        events += _drain(core)
        assert any(isinstance(e, SecurityNegotiated) and e.start_tls for e in events)
        tls.finish_handshake(core.trailing_data)
        core.tls_established(datetime.now(UTC))
        while not any(isinstance(e, ConnectionEnded) for e in events):
            if out := core.data_to_send():
                tls.send(out)
            data = tls.recv()
            if not data:
                core.connection_lost()
            else:
                core.receive_data(data, datetime.now(UTC))
            events += _drain(core)
        sock.close()
    finally:
        assert serve.stop() == 0
    assert any(isinstance(e, lic.NewLicenseReceived) for e in events), events
    assert "outcome=new_license" in serve.log_text()


def _drain(core: ClientConnection) -> list[object]:
    out = []
    while (event := core.next_event()) is not None:
        out.append(event)
    return out
