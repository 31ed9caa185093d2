"""`rdplic serve` under a storm of hostile connections (loopback only, bounded in count and
time): malformed and truncated frames, random bytes, oversized lengths, bytes one at a time,
abrupt disconnects mid-frame and stalled connections, while normal clients are licensed.
Afterwards the server's memory has not grown between two identical storms and the store holds
exactly the legitimate clients' licenses."""

from __future__ import annotations

import concurrent.futures
import json
import random
import socket
import ssl
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rdplic.app import build_client
from rdplic.core.connection_events import ConnectionEnded, SecurityNegotiated
from rdplic.core.events import NewLicenseReceived
from rdplic.testing.serve import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
FRAMES = sorted((ROOT / "tests" / "data" / "windows").glob("*-c2s.hex"))
STORM_SIZE = 120
"""Hostile connections per storm (bounded; 20 at a time)."""


def _frames() -> list[bytes]:
    return [bytes.fromhex(path.read_text().strip()) for path in FRAMES]


class Server(ServeProcess):
    """`rdplic serve` on a free loopback port with short timeouts."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir, "--idle-timeout", "2", "--total-timeout", "8")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def license_client(port: int, name: str) -> bool:
    """A normal simulated client (TLS), driven until the server ends the connection; True
    when it received a license."""
    core = build_client(
        machine_name=name,
        user_name="storm",
        platform="freerdp",
        hwid=random.Random(name).randbytes(20),
        security="tls",
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
    finally:
        sock.close()
    return any(isinstance(e, NewLicenseReceived) for e in events)


def hostile(port: int, index: int, frames: list[bytes]) -> None:
    """One hostile connection; which kind depends on ``index`` (seeded, repeatable)."""
    rng = random.Random(index)
    kind = index % 7
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        frame = rng.choice(frames)
        if kind == 0:  # random bytes
            sock.sendall(rng.randbytes(rng.randint(1, 2000)))
        elif kind == 1:  # a real frame, a few bytes changed
            data = bytearray(frame)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            sock.sendall(bytes(data))
        elif kind == 2:  # truncated frame, then an orderly close
            sock.sendall(frame[: rng.randint(1, len(frame) - 1)])
        elif kind == 3:  # a TPKT header announcing far more than will come
            sock.sendall(struct.pack(">BBH", 3, 0, 0xFFFF) + rng.randbytes(100))
        elif kind == 4:  # a real first frame one byte at a time
            for byte in frames[0]:
                sock.sendall(bytes([byte]))
        elif kind == 5:  # abrupt disconnect mid-frame (RST)
            sock.sendall(frame[: len(frame) // 2])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:  # stalled: connects, sends nothing, waits for the server's idle timeout
            sock.settimeout(6)
            try:
                while sock.recv(4096):
                    pass
            except (TimeoutError, ConnectionError):
                pass
        if kind not in (5, 6):
            sock.settimeout(3)
            try:
                while sock.recv(4096):
                    pass
            except (TimeoutError, ConnectionError):
                pass
    except ConnectionError:
        pass
    finally:
        sock.close()


def storm(port: int, first: int, frames: list[bytes], legit: str) -> bool:
    """STORM_SIZE hostile connections, 20 at a time, with a normal client licensed meanwhile."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=21) as pool:
        futures = [pool.submit(hostile, port, first + i, frames) for i in range(STORM_SIZE)]
        licensed = pool.submit(license_client, port, legit)
        for future in futures:
            future.result(timeout=60)
        return licensed.result(timeout=60)


@pytest.mark.slow
def test_server_survives_a_storm(tmp_path: Path) -> None:
    """Normal clients are licensed during and after two storms; memory does not grow from one
    storm to the next; no connection hit a bug; the store holds exactly the legitimate
    licenses."""
    frames = _frames()
    assert frames
    server = Server(tmp_path / "state")
    try:
        assert license_client(server.port, "LEGIT-BEFORE")
        assert storm(server.port, 0, frames, "LEGIT-STORM1")
        time.sleep(3)  # stalled connections time out
        after_first = server.rss_kib()
        assert storm(server.port, 0, frames, "LEGIT-STORM2")  # the same storm again
        time.sleep(3)
        after_second = server.rss_kib()
        assert license_client(server.port, "LEGIT-AFTER")
        assert after_second - after_first < 8 * 1024, (after_first, after_second)
        assert server.process.poll() is None
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log_text()  # no bug of the server was hit
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "license",
            "list",
            "--json",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    names = sorted(row["client_name"] for row in json.loads(listing.stdout))
    assert names == ["LEGIT-AFTER", "LEGIT-BEFORE", "LEGIT-STORM1", "LEGIT-STORM2"]
