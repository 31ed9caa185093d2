"""`EagerServer`: writes go out at once when nothing is queued, and in order when not."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("eager_echo.py")


def _pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@pytest.fixture()
def server() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, str(HELPER)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        yield int(line.split()[1])
    finally:
        process.kill()
        process.wait(timeout=10)


def _read(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _stats(conn: socket.socket) -> dict[str, int]:
    conn.sendall(b"stats\n")
    line = b""
    while not line.endswith(b"\n"):
        line += conn.recv(4096)
    return dict(json.loads(line))


def test_small_answers_are_sent_without_queueing(server: int) -> None:
    """Answers that fit the socket buffer leave in the write call and arrive intact."""
    with socket.create_connection(("127.0.0.1", server), timeout=10) as conn:
        for size in (1, 300, 1400, 4000):
            conn.sendall(f"{size}\n".encode())
            assert _read(conn, size) == _pattern(size)
        assert _stats(conn) == {"immediate": 4, "queued": 0}


def test_an_answer_larger_than_the_socket_buffer_is_queued_and_arrives_in_order(
    server: int,
) -> None:
    """What one send does not take (at most 128 KiB go per send) is queued; all arrives in order."""
    size = 16 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        conn.sendall(f"{size}\n100\n".encode())
        assert _read(conn, size + 100) == _pattern(size) + _pattern(100)
        stats = _stats(conn)
    assert stats["queued"] >= 1
