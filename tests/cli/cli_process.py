"""Run the real ``rdplic`` entry point (the console script pip installed next to the
interpreter) in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("rdplic")


def command(*argv: str) -> list[str]:
    """The command line of ``rdplic ARGV`` (the console script when installed)."""
    if SCRIPT.exists():
        return [str(SCRIPT), *argv]
    return [sys.executable, "-m", "rdplic.cli.main", *argv]  # pragma: no cover


def rdplic(*argv: str, timeout: float = 60, **options: Any) -> subprocess.CompletedProcess[str]:
    """``rdplic ARGV`` with its exit status, stdout and stderr (text)."""
    env = {**os.environ, "RDPLIC_STATE_DIR": ""}
    env.update(options.pop("env", {}))
    return subprocess.run(
        command(*argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **options,
    )
