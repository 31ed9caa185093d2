"""``rdplic serve`` in a child process, for tests: yours (a client under test against a real
license server) and rdplic's own.

A test wants a server on a free loopback port, its port, its log, and a clean stop; each of
rdplic's test areas used to start one its own way. `ServeProcess` is that one way::

    from rdplic.testing.serve import ServeProcess

    def test_my_client_gets_a_temporary_license(tmp_path):
        with ServeProcess(tmp_path / "state") as server:
            run_my_client("127.0.0.1", server.port)
        [line] = server.outcomes()
        assert line["outcome"] == "new_license" and line["temporary"]

The server is the real command (``python -m rdplic.cli.main serve``, its own process and
reactor) with ``--port 0`` and its log as JSON Lines in a file, which is how the port it
chose is learnt (the start line, README "rdplic serve"). The log's keys are those of the
JSON vocabulary (`rdplic.vocabulary`). Nothing here needs Hypothesis.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["ServeProcess", "ServeStartError"]

_LISTENING = re.compile(r"(?:listening|serving) on [^ ]+?:(\d+) ")
_WEB = re.compile(r"web console on http://([^/]+)/")


class ServeStartError(RuntimeError):
    """``rdplic serve`` exited, or did not listen, within the start-up time; the message
    carries what it wrote to stderr and its log."""


class ServeProcess:
    """``rdplic serve --port 0 --state-dir STATE_DIR OPTIONS...`` in a child process.

    :param state_dir: the server's state directory (created by the server when missing).
    :param options: further ``rdplic serve`` options, as on the command line
        (``"--security", "rdp"``, ``"--web", "127.0.0.1:0"``...).
    :param log_path: the log file; default ``STATE_DIR.serve.log`` beside the state
        directory (``STATE_DIR.serve-2.log``... when served again).
    :param log_format: ``json`` (JSON Lines, what `events` reads) or ``text``.
    :param env: the child's environment (default: this process's).
    :param umask: the child's umask (to check the modes of the files it creates).
    :param startup_timeout: seconds to wait for the listening line.

    :ivar port: the RDP port it listens on (loopback).
    :ivar web: ``host:port`` of the web console when ``--web`` was given, else None.
    :ivar process: the `subprocess.Popen` (``pid`` for signals, ``returncode``).
    """

    def __init__(
        self,
        state_dir: Path,
        *options: str,
        log_path: Path | None = None,
        log_format: str = "json",
        env: Mapping[str, str] | None = None,
        umask: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        if log_path is None:
            log_path = _fresh(self.state_dir.parent / f"{self.state_dir.name}.serve.log")
        self.log_path = Path(log_path)
        self.stderr_path = self.log_path.with_name(self.log_path.name + ".stderr")
        self.command: Sequence[str] = [
            *(sys.executable, "-m", "rdplic.cli.main", "serve", "--port", "0"),
            *("--state-dir", str(self.state_dir)),
            *("--log-format", log_format, "--log-file", str(self.log_path)),
            *options,
        ]
        self._stderr: IO[str] = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            self.command,
            env=None if env is None else dict(env),
            stderr=self._stderr,
            preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        )
        self.web: str | None = None
        try:
            self.port = self._wait(startup_timeout, wants_web="--web" in options)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float, *, wants_web: bool) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            listening, web = _LISTENING.search(text), _WEB.search(text)
            if listening and (web or not wants_web):
                self.web = web.group(1) if web else None
                return int(listening.group(1))
            if self.process.poll() is not None:
                raise ServeStartError(
                    f"rdplic serve exited with status {self.process.returncode}: "
                    f"{self.stderr_text().strip() or text.strip()}"
                )
            time.sleep(0.05)
        raise ServeStartError(f"rdplic serve did not listen within {timeout:g} s: {text.strip()}")

    # -- what it wrote -------------------------------------------------------------------

    def log_text(self) -> str:
        """The log file so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stderr_text(self) -> str:
        """What the server wrote to stderr (its one-line errors)."""
        self._stderr.flush()
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        """The log so far, one dict per JSON line (a line still being written is left out)."""
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def connections(self) -> list[dict[str, Any]]:
        """The per-connection lines (those with an ``outcome``), in the order they ended."""
        return [event for event in self.events() if "outcome" in event]

    def outcomes(self) -> list[dict[str, Any]]:
        """The connection lines of connections that reached licensing (not ``ended``)."""
        return [e for e in self.connections() if e.get("outcome") not in (None, "ended")]

    # -- stopping ------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop: handshakes in flight finish), then SIGKILL after
        ``timeout`` seconds; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        status = self.process.wait(timeout=timeout)
        self._stderr.close()
        return status

    def kill(self) -> int:
        """SIGKILL, as a crash would; the exit status (-9)."""
        if self.process.poll() is None:
            self.process.kill()
        status = self.process.wait(timeout=30)
        self._stderr.close()
        return status

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _fresh(path: Path) -> Path:
    """``path``, or ``path`` with a number before its suffix when it exists already (a
    state directory served twice keeps both logs)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate
