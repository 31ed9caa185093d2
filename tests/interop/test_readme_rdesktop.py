"""The README's unattended rdesktop command line, run as written against ``rdplic serve``.

Without a terminal rdesktop stops at its "Do you trust this certificate" question for the
server's self-signed certificate and crashes at end of file (status 139, issue 12); the
README's ``yes yes |`` answers it.  The line is taken from README.md, so the two cannot drift.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from serve_process import ROOT, Server, require

RDESKTOP_EXIT_AFTER_LICENSING = 76
"""rdesktop's connection-failure status: the server ends the connection after licensing
(README, without --demand-active)."""


def _readme_line() -> str:
    readme = (ROOT / "README.md").read_text()
    (line,) = re.findall(r"^yes yes \| xvfb-run -a rdesktop .*$", readme, flags=re.M)
    return line


def test_readme_rdesktop_line_runs_unattended(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """The README's rdesktop line, with no terminal, accepts the self-signed certificate and
    is licensed over TLS (exit 76, a new license in the server's log)."""
    require("rdesktop", "xvfb-run", "Xvfb")
    server = start_server("--security", "tls")
    line = _readme_line().replace("127.0.0.1:33890", f"127.0.0.1:{server.port}")
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        ["bash", "-c", f"timeout 60 bash -c {shlex.quote(line)}"],
        stdin=subprocess.DEVNULL,  # no terminal: rdesktop's question is answered by `yes`
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(home)},
        start_new_session=True,
    )
    assert result.returncode == RDESKTOP_EXIT_AFTER_LICENSING, (result.returncode, result.stderr)
    outcomes = [e["outcome"] for e in server.outcomes()]
    assert "new_license" in outcomes, server.events()
    assert (home / ".local/share/rdesktop/certs/known_certs").exists()
