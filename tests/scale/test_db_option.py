"""``--db`` at the command line: a URL that is not PostgreSQL's, or a database that is not
there, is one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from serving import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rdplic.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("license", "list"),
        ("keypack", "list"),
        ("history",),
        ("store", "export", "-"),
        ("serve", "--port", "0"),
    ],
)
def test_a_db_that_is_not_postgresql_is_refused(command: tuple[str, ...], tmp_path: Path) -> None:
    """``--db mysql://...``: exit status 2, one line naming --db, no traceback."""
    done = _run(*command, "--db", "mysql://u@h/db", "--state-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "--db" in done.stderr, done.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """A PostgreSQL URL with nobody behind it: exit status 2, one line, no password."""
    url = f"postgresql://rdplic:hunter2@/rdplic?host={tmp_path}&connect_timeout=2"
    done = _run("keypack", "list", "--db", url)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "hunter2" not in done.stderr, done.stderr


def test_serve_refuses_more_workers_than_it_allows_and_capture_with_workers(
    tmp_path: Path,
) -> None:
    """--workers 0 or 65, and --capture with several workers: exit status 2, one line."""
    for extra in (["--workers", "0"], ["--workers", "65"], ["--workers", "2", "--capture", "x"]):
        done = _run("serve", "--port", "0", "--state-dir", str(tmp_path), *extra)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
