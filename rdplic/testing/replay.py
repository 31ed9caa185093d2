"""``rdplic replay --serve`` in a child process, for a client's CI: the recorded server (of
Windows, of ``rdplic serve``, of a hostile profile) waiting for one connection of the client
under test, then the report of how that client's answers compare with the recorded client's.

::

    from rdplic.testing.replay import ServedRecording

    def test_my_client_accepts_the_recorded_new_license():
        with ServedRecording("captures/rdplic-serve/rdesktop-tls-new-device.pcapng") as served:
            run_my_client("127.0.0.1", served.port)
            [result] = served.results()
        assert result["verdict"] != "differs", result

The port is learnt from the one line ``rdplic replay --serve`` writes to stderr when it
listens (README "rdplic replay"); the results are those of ``--json`` (the JSON vocabulary's
keys, `rdplic.vocabulary`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ServedRecording"]

_SERVING = re.compile(r" on 127\.0\.0\.1:(\d+)$")


class ServedRecording:
    """``rdplic replay --serve 0 --json CAPTURE OPTIONS...`` in a child process.

    :param capture: the capture whose recorded server is served.
    :param options: further ``rdplic replay`` options (``"--timeout", "30"``...).
    :param report: ``json`` (`results` reads it) or ``text`` (the report for people, in
        ``output`` once `wait` returns).
    :param startup_timeout: seconds to wait for the listening line.

    :ivar port: the loopback port the recorded server listens on.
    :ivar process: the `subprocess.Popen`.
    :ivar output: its stdout (the report), once `wait` returned.
    :ivar errors: its stderr (the listening line, one-line errors).
    """

    def __init__(
        self,
        capture: Path | str,
        *options: str,
        report: str = "json",
        startup_timeout: float = 60.0,
    ) -> None:
        self.command = [
            *(sys.executable, "-m", "rdplic.cli.main", "replay", "--serve", "0"),
            *(("--json",) if report == "json" else ()),
            *options,
            str(capture),
        ]
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output = ""
        self.errors = ""
        assert self.process.stderr is not None
        # readline blocks until the line or the end of stderr; a child that never listens
        # is stopped by the timer
        timer = threading.Timer(startup_timeout, self.process.kill)
        timer.daemon = True
        timer.start()
        try:
            line = self.process.stderr.readline()
        finally:
            timer.cancel()
        found = _SERVING.search(line.rstrip("\n"))
        if not found:
            self.close()
            raise RuntimeError(
                f"rdplic replay --serve did not listen: {(line + self.errors).strip()}"
            )
        self.errors = line
        self.port = int(found.group(1))

    def wait(self, timeout: float = 120.0) -> int:
        """Wait for the served connection to end and the report to be written; the exit
        status (0 same as recorded, 1 differs, 2 could not serve: README "rdplic replay")."""
        if self.process.returncode is None:
            try:
                out, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                out, err = self.process.communicate()
            self.output += out
            self.errors += err
        return self.process.returncode

    def results(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """The ``results`` of the JSON report, once the served connection ended."""
        self.wait(timeout)
        if not self.output:
            raise RuntimeError(f"rdplic replay --serve wrote no report: {self.errors.strip()}")
        results: list[dict[str, Any]] = json.loads(self.output)["results"]
        return results

    def close(self) -> None:
        """Stop the child if it still runs (the test ended before any client came)."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait()

    def __enter__(self) -> ServedRecording:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
