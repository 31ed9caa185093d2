"""rdplic replay --serve of a Windows capture, met by xfreerdp: rdplic's key stands in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from rdp_clients import run_client
from serve_process import require

ROOT = Path(__file__).resolve().parents[2]
# A Windows Server without a licensing role, Standard RDP Security (captures/windows/README.md)
WINDOWS = str(ROOT / "captures/windows/win-stdsec-valid-client.pcapng")


def test_xfreerdp_completes_licensing_against_a_served_windows_capture(
    tmp_path: Path, display: str
) -> None:
    """xfreerdp (/sec:rdp) accepts the Windows server's connection sequence with rdplic's
    proprietary certificate in place of the recorded one, decrypts the valid-client message
    sent under its own session keys and moves on to the capabilities exchange; the report
    names the certificate's changed fields and the licensing PDU replaced."""
    require("xfreerdp")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rdplic.cli.main",
            "replay",
            "--json",
            "--serve",
            "0",
            WINDOWS,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        found = re.search(r"127\.0\.0\.1:(\d+)", process.stderr.readline())
        assert found
        run = run_client(
            "xfreerdp",
            int(found.group(1)),
            "rdp",
            tmp_path / "home",
            display=display,
            timeout=30,
            stop_on=r"CONNECTION_STATE_LICENSING --> CONNECTION_STATE_CAPABILITIES_EXCHANGE",
        )
        out, _err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert run.stopped_on_match, str(run)
    (result,) = json.loads(out)["results"]
    changes = {c["path"]: c for c in result["substituted"]}
    certificate = changes["gcc.SC_SECURITY.serverCertificate"]["reason"]
    assert "PublicKeyBlob.modulus, SignatureBlob" in certificate
    assert changes["licensing"]["sent"] == "STATUS_VALID_CLIENT / ST_NO_TRANSITION"
