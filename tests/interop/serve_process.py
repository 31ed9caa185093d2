"""``rdplic serve`` and the administration commands, run as child processes for the interop
tests; and the rule that skips a test whose client is missing (but fails it under CI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rdp_clients import missing_binaries

from rdplic.testing.serve import ServeProcess

__all__ = ["Server", "rdplic", "require"]

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_STARTUP_TIMEOUT = 60.0


def require(*binaries: str) -> None:
    """Skip (fail under CI=true) when a binary the test needs is not installed."""
    missing = missing_binaries(*binaries)
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (apt-get install rdesktop freerdp2-x11 xvfb)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def rdplic(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an ``rdplic`` administration command against ``state_dir``."""
    command = [sys.executable, "-m", "rdplic.cli.main", *args, "--state-dir", str(state_dir)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


class Server(ServeProcess):
    """``rdplic serve`` running in a child process, logging JSON Lines to ``log_path``."""

    def __init__(self, state_dir: Path, log_path: Path, extra: tuple[str, ...]) -> None:
        super().__init__(
            state_dir, "--host", "127.0.0.1", "--shutdown-grace", "2", *extra, log_path=log_path
        )

    def stop(self, timeout: float = 15.0) -> int:
        return super().stop(timeout)
