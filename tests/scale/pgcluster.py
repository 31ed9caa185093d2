"""A throwaway PostgreSQL 15 cluster for the tests and benchmarks/scale.py.

initdb and pg_ctl on a temporary directory, listening on a Unix socket in that directory
only (no TCP port to collide with).  initdb refuses to run as root, and CI runs as root:
then the cluster belongs to the ``postgres`` user and runs under ``runuser``.  ``.ci/run``
installs postgresql-15 when the machine lacks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

__all__ = ["PG_BIN", "PgCluster", "pg_available"]

PG_BIN = Path(os.environ.get("RDPLIC_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pg_available() -> bool:
    """Whether initdb and pg_ctl of PostgreSQL 15 are installed."""
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PgCluster:
    """One cluster: `start`, `url` of fresh databases, `restart`, `stop`."""

    root: Path
    fsync: bool = False

    @classmethod
    def create(cls, *, fsync: bool = False) -> PgCluster:
        root = Path(tempfile.mkdtemp(prefix="rdplic-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
        cluster = cls(root, fsync)
        subprocess.run(
            _as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(root / "data"),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        cluster.start()
        return cluster

    @property
    def socket_dir(self) -> Path:
        return self.root

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-k {self.root} -c listen_addresses='' -c max_connections=200"
            f" -c fsync={'on' if self.fsync else 'off'} -c shared_buffers=32MB"
        )
        self._ctl("-w", "-l", str(self.root / "log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-m", mode, "stop")

    def restart(self) -> None:
        """Stop (fast: connections are cut) and start again."""
        self.stop("fast")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = "rdplic_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
