"""``rdplic serve --web`` in a child process, HTTP requests to its console, simulated clients.

The server is the real command (its own process and reactor); clients are the project's own
simulated devices (rdplic.app.build_client) over a blocking socket on loopback.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.app import build_client
from rdplic.core.connection_events import ConnectionEnded, SecurityNegotiated
from rdplic.testing.serve import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artefacts" / "web"
"""Where the browser tests keep their screenshots (ignored by git)."""

_RDP = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_WEB = re.compile(r"web console on http://([^/]+)/")


def rdplic(state_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """An ``rdplic`` command against ``state_dir``."""
    command = [sys.executable, "-m", "rdplic.cli.main", *args, "--state-dir", str(state_dir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


def rdplic_json(state_dir: Path, *args: str) -> Any:
    return json.loads(rdplic(state_dir, *args, "--json").stdout)


class WebServer(ServeProcess):
    """``rdplic serve --port 0 --web 127.0.0.1:0`` with its two addresses."""

    def __init__(self, state_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        super().__init__(
            state_dir, "--shutdown-grace", "2", "--web", "127.0.0.1:0", *extra, env=env
        )
        assert self.web is not None
        self.base = f"http://{self.web}"


def http(
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers
    text = raw.decode()
    return status, json.loads(text) if "json" in kind.get("Content-Type", "") else text


def csrf_of(base: str) -> str:
    """The CSRF token written into the page (what a same-origin script reads)."""
    _, page = http(base + "/")
    match = re.search(r'name="rdplic-csrf" content="([^"]+)"', page)
    assert match
    return match.group(1)


def rdplic_client(port: int, name: str, machine_dir: Path, *, user: str = "tester") -> Any:
    """``rdplic client 127.0.0.1:PORT --name NAME`` (a simulated machine with its licenses in
    ``machine_dir``), as a tester runs it; its --json result."""
    command = [
        *(sys.executable, "-m", "rdplic.cli.main", "client", f"127.0.0.1:{port}"),
        *("--name", name, "--user", user, "--machine-dir", str(machine_dir), "--json"),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def license_client(
    port: int, name: str, *, password: str = "", user: str = "tester"
) -> list[object]:
    """One simulated device (FreeRDP-like, TLS) licensed by the server on ``port``."""
    core = build_client(
        machine_name=name, user_name=user, password=password, platform="freerdp", security="tls"
    )
    events: list[object] = []
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        core.start()
        sock.sendall(core.data_to_send())
        while not any(isinstance(e, ConnectionEnded) for e in events):
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
                    sock = context.wrap_socket(sock)
                    core.tls_established(datetime.now(UTC))
            out = core.data_to_send()
            if out:
                sock.sendall(out)
            if not data:
                break
    finally:
        sock.close()
    return events
