"""``rdplic serve`` and the administration commands, run as child processes for the interop
tests; and the rule that skips a test whose client is missing (but fails it under CI)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rdp_clients import missing_binaries

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


class Server:
    """``rdplic serve`` running in a child process."""

    def __init__(self, state_dir: Path, log_path: Path, extra: tuple[str, ...]) -> None:
        self.state_dir = state_dir
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--log-format",
            "json",
            "--log-file",
            str(log_path),
            "--shutdown-grace",
            "2",
            *extra,
        ]
        self._stderr = (log_path.parent / (log_path.name + ".stderr")).open("w")
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=self._stderr)
        self.port = self._wait_listening()

    def _wait_listening(self) -> int:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rdplic serve exited with {self.process.returncode}")
            for event in self.events():
                match = _LISTENING.search(event.get("message", ""))
                if match:
                    return int(match.group(1))
            time.sleep(0.1)
        raise RuntimeError("rdplic serve did not start listening")

    def events(self) -> list[dict[str, Any]]:
        """The server's log so far (JSON Lines), one dict per line."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the last line may still be being written
        return out

    def outcomes(self) -> list[dict[str, Any]]:
        """The per-connection summary lines of connections that reached licensing."""
        return [e for e in self.events() if e.get("outcome") not in (None, "ended")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._stderr.close()
