"""``rdplic serve`` with the CPU time of its crypto calls counted (started by serve.py).

    python benchmarks/serve_timed.py OUT.json serve [rdplic serve options...]

Runs ``rdplic serve`` unchanged apart from thin wrappers around the crypto primitives the
server core calls (`handshake_crypto.CryptoRecorder` with ``time.thread_time``, and the
TLS handshakes of ``ssl.SSLObject``).  On SIGUSR1 it writes, atomically, the crypto's CPU
seconds so far and the process's user and system CPU seconds to OUT.json: the benchmark reads it
before and after a pass of handshakes, so the crypto's share of the server's CPU is
measured in the same process over the same time, whatever the machine's speed does.
The wrappers' own cost (two clock reads and a Python call per crypto call, about a tenth
of the server's CPU) counts as the server's: so they go in only when serve.py is run with
``--crypto-share`` (environment ``RDPLIC_BENCH_CRYPTO_SHARE=1``); otherwise the server runs
unwrapped and only its CPU times are written.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path

# The project before this directory (benchmarks/pdu.py would hide the pdu package).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handshake_crypto import CryptoRecorder

PRELOAD = (
    "rdplic.app",
    "rdplic.cli.serve_cmd",
    "rdplic.core.connection_server",
    "rdplic.core.licensing_server",
    "rdplic.licensing.signer",
    "rdplic.net.server",
    "rdplic.net.tls",
)
"""Modules that import the crypto primitives by name: loaded before the wrappers go in."""


def main() -> None:
    out = Path(sys.argv[1])
    for name in PRELOAD:
        importlib.import_module(name)
    recorder = CryptoRecorder(timer=time.thread_time)
    if os.environ.get("RDPLIC_BENCH_CRYPTO_SHARE") == "1":
        recorder.install(tls=True)
        recorder.active = True

    def dump(signum: int, frame: object) -> None:
        usage = os.times()
        figures = {
            "crypto": recorder.seconds,
            "calls": recorder.count,
            "user": usage.user,
            "system": usage.system,
        }
        partial = out.with_suffix(".part")
        partial.write_text(json.dumps(figures))
        partial.replace(out)

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["rdplic", *sys.argv[2:]]
    runpy.run_module("rdplic.cli.main", run_name="__main__")


if __name__ == "__main__":
    main()
