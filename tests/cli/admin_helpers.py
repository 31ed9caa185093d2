"""Helpers of the administration command tests: run ``rdplic`` in-process, seed a store."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rdplic.cli.main import main
from rdplic.licensing import (
    CalType,
    ClientIdentity,
    DigestSigner,
    FirstLicensePolicy,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
    Ruling,
)
from rdplic.store import STORE_FILENAME, open_store


@dataclass
class Result:
    status: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """``rdplic ARGV`` through rdplic.cli.main.main, with its exit status and output."""
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)


def dump(state_dir: Path) -> str:
    """Everything in the store, to prove a refused command changed nothing."""
    conn = sqlite3.connect(state_dir / STORE_FILENAME)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def client(name: str, user: str = "alice") -> ClientIdentity:
    return ClientIdentity(b"\x02\x00\x00\x00" + hashlib.md5(name.encode()).digest(), name, user)


def issue(state_dir: Path, *names: str, permanent: bool = True, cals: int = 0) -> list[Ruling]:
    """Connect devices the way `rdplic serve` would, at the real current time."""
    store = open_store(state_dir)
    try:
        policy = FirstLicensePolicy.PERMANENT if permanent else FirstLicensePolicy.TEMPORARY
        config = HostConfig(first_license=policy)
        decide = LicensePolicy(store, DigestSigner(), random.Random(3), config=config)
        now = datetime.now(UTC)
        if cals:
            LicenseAdmin(store).add_key_pack(now, cal_type=CalType.PER_DEVICE, count=cals)
        return [decide.request_new_license(client(n), now) for n in names]
    finally:
        store.close()
