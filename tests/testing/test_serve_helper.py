"""`rdplic.testing.serve.ServeProcess`: the real ``rdplic serve`` in a child process, for
users' tests and rdplic's own (README "A real server in your tests")."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rdplic.testing.replay import ServedRecording
from rdplic.testing.serve import ServeProcess, ServeStartError

ROOT = Path(__file__).resolve().parents[2]


def _client(port: int, machine_dir: Path) -> int:
    command = [sys.executable, "-m", "rdplic", "client", f"127.0.0.1:{port}"]
    done = subprocess.run(
        [*command, "--machine-dir", str(machine_dir), "--security", "rdp"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode


def test_port_log_outcomes_and_graceful_stop(tmp_path: Path) -> None:
    """It learns the port from the log, reads the connection lines, and stops with status 0."""
    server = ServeProcess(tmp_path / "state", "--security", "rdp,tls")
    with server:
        assert _client(server.port, tmp_path / "pc") == 0
        assert _client(server.port, tmp_path / "pc") == 0
        outcomes = [line["outcome"] for line in server.outcomes()]
    assert outcomes == ["new_license", "reissued"]  # no key pack: the temporary comes back
    assert server.process.returncode == 0
    assert server.log_path == tmp_path / "state.serve.log"
    assert any("store closed" in event.get("message", "") for event in server.events())


def test_a_second_server_on_the_same_state_keeps_the_first_log(tmp_path: Path) -> None:
    """Serving a state directory again writes a second log instead of appending."""
    with ServeProcess(tmp_path / "state") as first:
        pass
    with ServeProcess(tmp_path / "state") as second:
        pass
    assert first.log_path != second.log_path
    assert second.log_path.name == "state.serve-2.log"


def test_kill_is_a_crash(tmp_path: Path) -> None:
    """kill() sends SIGKILL: the exit status says so."""
    server = ServeProcess(tmp_path / "state")
    assert server.kill() == -signal.SIGKILL


def test_a_server_that_cannot_start_raises_with_its_error(tmp_path: Path) -> None:
    """A state directory that is a file: ServeStartError carries the server's one-line error."""
    (tmp_path / "state").write_text("not a directory")
    with pytest.raises(ServeStartError, match=r"status 2: rdplic: error: .*state"):
        ServeProcess(tmp_path / "state")


def test_web_console_address(tmp_path: Path) -> None:
    """With --web the console's host:port is known once both listen."""
    with ServeProcess(tmp_path / "state", "--web", "127.0.0.1:0") as server:
        assert server.web is not None and server.web.startswith("127.0.0.1:")
        assert int(server.web.rsplit(":", 1)[1]) not in (0, server.port)


def test_the_rdplic_serve_fixture_copies_one_identity(rdplic_serve: Any) -> None:
    """The plugin's fixture: servers share the session's keys but not their stores."""
    first = rdplic_serve()
    second = rdplic_serve("--security", "rdp")
    assert first.state_dir != second.state_dir
    key = "identity/terminal-server-key.pem"
    assert (first.state_dir / key).read_bytes() == (second.state_dir / key).read_bytes()
    assert _client(second.port, second.state_dir.parent / "pc") == 0
    assert len(second.outcomes()) == 1 and first.outcomes() == []


def test_the_readme_fixture_example_passes(tmp_path: Path) -> None:
    """README's test_my_client.py, run by pytest as a user would, passes."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"cat > test_my_client\.py <<'END'\n(.*?)\nEND\n", readme, re.S)
    assert example is not None
    (tmp_path / "test_my_client.py").write_text(example.group(1) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_client.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_served_recording_refuses_a_capture_it_cannot_serve(tmp_path: Path) -> None:
    """ServedRecording of a file that is no capture raises with replay's one-line error
    instead of waiting for a client."""
    not_a_capture = tmp_path / "notes.pcapng"
    not_a_capture.write_text("not a capture\n")
    said = r"did not listen: rdplic: .*notes\.pcapng: not a pcapng file"
    with pytest.raises(RuntimeError, match=said):
        ServedRecording(not_a_capture)


def test_served_recording_reports_a_client_that_never_came(tmp_path: Path) -> None:
    """A served recording nobody connects to ends at replay's --timeout with one line naming
    the port it waited on (exit 2)."""
    capture = ROOT / "captures/rdplic-serve/rdplic-client-tls-new-device.pcapng"
    with ServedRecording(capture, "--timeout", "1", report="text") as served:
        status = served.wait(60)
    assert status == 2, served.output + served.errors
    assert f"no client connected to port {served.port} within 1 s" in served.errors
