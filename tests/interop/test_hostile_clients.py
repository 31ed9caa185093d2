"""rdesktop 1.9 and FreeRDP 2.11 against ``rdplic serve --hostile`` on the CVE profiles.

Each client connects over TLS (the licensing PDUs are then in clear inside TLS, where the
hostile server mutates them) to a server running one CVE profile with a fixed seed, and must
end on its own, not by a signal: the bugs these profiles are named after are fixed in the
Debian 12 versions.  One is not: rdesktop 1.9.0 dies of SIGSEGV when the Platform Challenge's
encrypted blob claims more bytes than the PDU holds (cve-2017-2839's shape), which the test
records as a strict expected failure.

xfreerdp ``/sec:rdp`` asks for encrypted licensing (SEC_LICENSE_ENCRYPT_SC): there the
connection machine mutates each licensing PDU before Standard RDP Security encrypts it, and
the client must meet the lie (licensing fails on its side, or the server refuses what it
answered) and still end without a signal.  Every run has a hard timeout; the module takes
about a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rdp_clients import run_client
from serve_process import Server, require

CLIENT_TIMEOUT = 15.0
SEED = "7"
RDESKTOP_CRASH = pytest.mark.xfail(
    strict=True, reason="rdesktop 1.9.0 SIGSEGV on a Platform Challenge blob length past the PDU"
)
CASES = [
    pytest.param("xfreerdp", "cve-2014-0791"),
    pytest.param("xfreerdp", "cve-2017-2838"),
    pytest.param("xfreerdp", "cve-2017-2839"),
    pytest.param("xfreerdp", "cve-2020-11099"),
    pytest.param("rdesktop", "cve-2014-0791"),
    pytest.param("rdesktop", "cve-2017-2838"),
    pytest.param("rdesktop", "cve-2017-2839", marks=RDESKTOP_CRASH),
    pytest.param("rdesktop", "cve-2020-11099"),
    # the 2018 rdesktop series and the lies before licensing (rdplic.hostile.connect)
    pytest.param("xfreerdp", "cve-2017-2837"),
    pytest.param("xfreerdp", "cve-2018-20175"),
    pytest.param("xfreerdp", "cve-2018-20176"),
    pytest.param("xfreerdp", "cve-2020-13398"),
    pytest.param("rdesktop", "cve-2017-2837"),
    pytest.param("rdesktop", "cve-2018-20175"),
    pytest.param("rdesktop", "cve-2018-20176"),
    pytest.param("rdesktop", "cve-2020-13398"),
]
ENCRYPTED = ["cve-2014-0791", "cve-2017-2838", "cve-2017-2839", "cve-2020-11099", "cve-2020-13398"]
"""The profiles whose lie is in a licensing PDU, for xfreerdp /sec:rdp."""


@pytest.mark.parametrize(("client", "profile"), CASES)
def test_client_survives_profile(
    client: str,
    profile: str,
    start_server: Callable[..., Server],
    display: str,
    tmp_path: Path,
) -> None:
    """The client ends without a crash (no signal, no hang) on a hostile CVE profile."""
    require(client)
    server = start_server("--hostile", profile, "--hostile-seed", SEED, "--idle-timeout", "5")
    run = run_client(
        client,
        server.port,
        "tls",
        tmp_path / "home",
        display=display,
        timeout=CLIENT_TIMEOUT,
        log_path=tmp_path / f"{client}.log",
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        hostile = [e for e in server.events() if "reaction" in e.get("hostile", {})]
        if hostile:
            break
        time.sleep(0.1)
    assert hostile, "no hostile line in the server's log"
    assert hostile[0]["hostile"]["mutations"], "the profile mutated nothing"
    assert not run.timed_out, str(run)
    assert run.returncode is not None and run.returncode >= 0, str(run)


@pytest.mark.parametrize("profile", ENCRYPTED)
def test_xfreerdp_meets_the_lie_under_encrypted_licensing(
    profile: str,
    start_server: Callable[..., Server],
    display: str,
    tmp_path: Path,
) -> None:
    """xfreerdp /sec:rdp gets the profile's licensing PDU mutated before Standard RDP
    Security encrypted it: licensing fails (on its side, or the server refuses its answer
    to the lying certificate) and it ends without a signal."""
    require("xfreerdp")
    server = start_server("--hostile", profile, "--hostile-seed", SEED, "--idle-timeout", "5")
    log = tmp_path / "xfreerdp.log"
    run = run_client(
        "xfreerdp",
        server.port,
        "rdp",
        tmp_path / "home",
        display=display,
        timeout=CLIENT_TIMEOUT,
        log_path=log,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        hostile = [e for e in server.events() if "reaction" in e.get("hostile", {})]
        if hostile:
            break
        time.sleep(0.1)
    assert hostile, "no hostile line in the server's log"
    line = hostile[0]["hostile"]
    assert line["mutations"], "nothing mutated: the encrypted licensing PDUs went out unchanged"
    failed_on_client = "rdp_client_connect_license() - -1" in log.read_text(errors="replace")
    assert failed_on_client or line["reaction"] == "licensing_error", str(run)
    assert not run.timed_out, str(run)
    assert run.returncode is not None and run.returncode >= 0, str(run)
