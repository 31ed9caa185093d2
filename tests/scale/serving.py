"""``rdplic serve`` processes and the device driver (drive.py) for the scale-out tests."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from rdplic.testing.serve import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
DRIVE = Path(__file__).resolve().parent / "drive.py"


class Serve(ServeProcess):
    """One ``rdplic serve`` (a supervisor with ``--workers``) under Standard RDP Security,
    its log in text (the supervisor's worker lines are read from it)."""

    def __init__(self, state_dir: Path, *extra: str) -> None:
        super().__init__(state_dir, "--security", "rdp", *extra, log_format="text")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> list[str]:
        """The matches of ``pattern`` in the log once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.log_text())
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} x{count} not in the log:\n{self.log_text()}")

    def worker_pids(self) -> dict[int, int]:
        """Worker number -> pid of its latest start."""
        return {
            int(n): int(p)
            for n, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.log_text())
        }


def drive(
    ports: list[int],
    devices: int,
    *,
    prefix: str = "DEV",
    concurrency: int = 16,
    load: bool = False,
) -> Any:
    """Run drive.py to the end; its JSON report."""
    process = start_drive(ports, devices, prefix=prefix, concurrency=concurrency, load=load)
    return json.loads(process.communicate(timeout=300)[0])


def start_drive(
    ports: list[int],
    devices: int,
    *,
    prefix: str = "DEV",
    concurrency: int = 16,
    load: bool = False,
) -> subprocess.Popen[str]:
    """drive.py in the background (``load``: through rdplic load, one port)."""
    return subprocess.Popen(
        [
            sys.executable,
            str(DRIVE),
            "--ports",
            ",".join(map(str, ports)),
            "--devices",
            str(devices),
            "--prefix",
            prefix,
            "--concurrency",
            str(concurrency),
            *(["--load"] if load else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def rdplic(*args: str) -> Any:
    """An admin command's JSON output (exit status 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def stored_licenses(db: str) -> list[tuple[int, str, int, int | None, str]]:
    """(license id, hwid, status, key pack, SHA-256 of the blob) of every stored license;
    ``db`` is a postgresql:// URL or the path of a SQLite file."""
    sql = "SELECT license_id, hwid, status, key_pack_id, license_blob FROM licenses"
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            rows = conn.execute(sql).fetchall()
    else:
        conn = sqlite3.connect(db)
        rows = conn.execute(sql).fetchall()
        conn.close()
    return [
        (r[0], r[1], r[2], r[3], hashlib.sha256(bytes(r[4])).hexdigest() if r[4] else "")
        for r in rows
    ]


def history_kinds(db: str) -> list[tuple[str, int | None, str]]:
    """(kind, license id, host) of every history event."""
    sql = "SELECT kind, license_id, host FROM history ORDER BY event_id"
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]  # type: ignore[misc]
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()
