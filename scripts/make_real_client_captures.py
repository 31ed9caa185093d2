"""Record the captures/ sessions of rdesktop and xfreerdp against ``rdplic serve``.

    .venv/bin/python scripts/make_real_client_captures.py captures/real-clients

Needs rdesktop, xfreerdp and Xvfb (``apt-get install rdesktop freerdp2-x11 xvfb xauth``).
For each client and security layer, one state directory and one client HOME go through the
scenarios of issue 14; each connection is a separate ``rdplic serve --capture FILE
--capture-secrets`` run (the process helpers of tests/interop), so each file holds one
session: new-device, no-cal-left, lapsed-new-device and lapsed-temporary (a second client
name; ``rdplic clock advance 91d`` between them: refused), upgrade (after ``rdplic keypack
add``), valid-client, tampered-license (one byte of the client's license file changed),
deleted-license (the license file deleted).

The clients draw their own randomness, so these replay from the server side only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from rdp_clients import Xvfb, license_file, run_client  # noqa: E402
from serve_process import Server, rdplic  # noqa: E402

CASES = [
    ("xfreerdp", "rdp", ("--security", "rdp")),
    ("xfreerdp", "tls", ("--security", "tls")),
    ("rdesktop", "rdp", ("--security", "rdp")),
    ("rdesktop", "tls", ("--security", "tls")),
]


def record(out: Path, client: str, security: str, options: tuple[str, ...], display: str) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"rdplic-{client}-{security}-"))
    state, home = work / "state", work / "home"
    state.mkdir(mode=0o700)

    def one(name: str, client_name: str = "LABCLIENT") -> None:
        path = out / f"{client}-{security}-{name}.pcapng"
        log = work / f"{name}.log"
        server = Server(state, log, (*options, "--capture", str(path), "--capture-secrets"))
        try:
            run = run_client(
                client,
                server.port,
                security,
                home,
                display=display,
                timeout=20,
                client_name=client_name,
                log_path=work / f"{name}-{client}.log",
            )
        finally:
            server.stop()
        print(f"{path.name}: exit {run.returncode}")

    one("new-device")
    one("no-cal-left")
    one("lapsed-new-device", "LABCLIENT2")
    rdplic(state, "clock", "advance", "91d")
    one("lapsed-temporary", "LABCLIENT2")
    rdplic(state, "keypack", "add", "--type", "per-device", "--count", "1")
    one("upgrade")
    one("valid-client")
    stored = license_file(client, home, "LABCLIENT")
    original = stored.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    stored.write_bytes(bytes(changed))
    one("tampered-license")
    stored.unlink(missing_ok=True)
    one("deleted-license")
    shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    xvfb = Xvfb()
    display = xvfb.start()
    try:
        for client, security, options in CASES:
            record(args.out, client, security, options, display)
    finally:
        xvfb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
