"""rdplic replay --serve of a Windows capture, met by xfreerdp: rdplic's key stands in."""

from __future__ import annotations

from pathlib import Path

from rdp_clients import run_client
from serve_process import require

from rdplic.testing.replay import ServedRecording

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
    with ServedRecording(WINDOWS) as served:
        run = run_client(
            "xfreerdp",
            served.port,
            "rdp",
            tmp_path / "home",
            display=display,
            timeout=30,
            stop_on=r"CONNECTION_STATE_LICENSING --> CONNECTION_STATE_CAPABILITIES_EXCHANGE",
        )
        (result,) = served.results(60)
    assert run.stopped_on_match, str(run)
    changes = {c["path"]: c for c in result["substituted"]}
    certificate = changes["gcc.SC_SECURITY.serverCertificate"]["reason"]
    assert "PublicKeyBlob.modulus, SignatureBlob" in certificate
    assert changes["licensing"]["sent"] == "STATUS_VALID_CLIENT / ST_NO_TRANSITION"
