"""Every platform preset over both security layers against ``rdplic serve``, and ``rdplic
client`` against xrdp 0.9 from Debian, which answers licensing with Valid Client.

xrdp runs as a child process on a loopback port with a configuration of the test's own
(``.ci/run`` installs it); the test is skipped when xrdp is missing, except under CI=true."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import ROOT, rdplic_json

from rdplic.core.platforms import CLIENT_PLATFORMS

_PRESETS_SCRIPT = """
import json, sys
from rdplic.core.client_store import MemoryLicenseStore
from rdplic.core.platforms import CLIENT_PLATFORMS, hardware_id
from rdplic.app import install_reactor
reactor = install_reactor()
from twisted.internet import defer
from rdplic.simclient.session import connect_device
port = int(sys.argv[1])
out = []

@defer.inlineCallbacks
def run():
    try:
        for security in ("rdp", "tls"):
            for name, platform in CLIENT_PLATFORMS.items():
                store = MemoryLicenseStore()
                machine = (name.replace("windows-", "W").replace("-", "")[:12] + security).upper()
                kinds = []
                for _ in range(2):
                    result = yield connect_device(
                        reactor, "127.0.0.1", port, machine_name=machine, user_name="u",
                        platform=platform, hwid=hardware_id(platform, machine), store=store,
                        security=security, timeout=20)
                    kinds.append([result.outcome.value, result.security, result.error])
                out.append([name, security, kinds])
    finally:
        reactor.stop()

reactor.callWhenRunning(run)
reactor.run()
print(json.dumps(out))
"""


def test_every_preset_is_licensed_over_rdp_and_tls(serve: Any) -> None:
    """Each preset gets a license then presents it, under Standard RDP Security and TLS."""
    import json

    server = serve()
    result = subprocess.run(
        [sys.executable, "-c", _PRESETS_SCRIPT, str(server.port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    runs = json.loads(result.stdout)
    assert len(runs) == 2 * len(CLIENT_PLATFORMS)
    for name, security, kinds in runs:
        first, second = kinds
        assert first[:2] == ["new_license", security], (name, security, first)
        assert second[0] == "reissued" and second[1] == security, (name, security, second)


# -- xrdp -------------------------------------------------------------------------------

_XRDP_INI = """\
[Globals]
ini_version=1
fork=false
port=tcp://127.0.0.1:{port}
use_vsock=false
tcp_nodelay=true
security_layer={security_layer}
crypt_level=high
certificate=
key_file=
ssl_protocols=TLSv1.2, TLSv1.3
allow_channels=false
max_bpp=32

[Logging]
LogFile={log}
LogLevel=INFO
EnableSyslog=false
EnableConsole=false

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def xrdp(tmp_path: Path) -> Iterator[int]:
    """xrdp 0.9 (``--nodaemon``) on a free loopback port with this test's configuration."""
    binary = shutil.which("xrdp") or ("/usr/sbin/xrdp" if Path("/usr/sbin/xrdp").exists() else None)
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and xrdp is not installed (apt-get install xrdp)")
        pytest.skip("not installed: xrdp (apt-get install xrdp)")
    if os.geteuid() != 0:
        message = "xrdp reads its RSA keys and certificate as root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and not root: {message}")
        pytest.skip(message)
    port = _free_port()
    config = tmp_path / "xrdp.ini"
    config.write_text(
        _XRDP_INI.format(port=port, security_layer="negotiate", log=tmp_path / "xrdp.log")
    )
    Path("/run/xrdp").mkdir(parents=True, exist_ok=True)  # its pid file's directory
    process = subprocess.Popen(
        [binary, "--nodaemon", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "xrdp.stderr").open("w"),
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "xrdp.stderr").read_text()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("xrdp did not start listening")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.parametrize("security", ["negotiate", "tls", "rdp", "rdp-legacy"])
def test_xrdp_answers_licensing_with_valid_client(xrdp: int, tmp_path: Path, security: str) -> None:
    """xrdp 0.9 sends STATUS_VALID_CLIENT: reported as valid_client, exit 0, nothing stored."""
    machine = tmp_path / "m"
    result = rdplic_json(
        "client",
        f"127.0.0.1:{xrdp}",
        "--machine-dir",
        str(machine),
        "--security",
        security,
        "--timeout",
        "20",
    )
    assert result["outcome"] == "valid_client" and result["licensed"], result
    expected = "tls" if security in ("negotiate", "tls") else "rdp"
    assert result["security"] == expected
    held = rdplic_json("client", "licenses", "--machine-dir", str(machine))
    assert held["licenses"] == []
