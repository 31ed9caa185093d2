"""Record the captures/ sessions of rdplic's own client against an in-process rdplic serve.

    .venv/bin/python scripts/make_captures.py captures/rdplic-client [--security rdp tls]

For each security layer, one state directory and one simulated device (rdplic's client
core through `rdplic.net.client.license_once`, built by `rdplic.app.build_client`) go
through the scenarios of issue 14, each connection recorded with ``--capture-secrets``
(`ServerApp.twisted_factory(capture=..., capture_secrets=True)`) into its own file, and
from the client's side (`rdplic.app.build_recorded_client`, what ``rdplic client
--capture`` is to record) into a ``.client.pcapng`` beside it:

new-device (a temporary license), no-cal-left (no CAL installed: the temporary license
comes back in an Upgrade License, [MS-RDPELE] 3.2.5.5 case 4), lapsed-new-device and
lapsed-temporary (a second device, then 91 days on without a CAL: refused), upgrade (a CAL
installed: permanent), valid-client (the permanent CAL presented), tampered-license (a byte
of the stored CAL changed), deleted-license (the device's license store emptied: New
License Request, the server resends the CAL).

The machines' randomness, the policy's randomness and the clock are seeded and fixed, so
running the script again gives the same sessions, apart from the server's identity (new keys
for each state directory), the ports and the packets' times.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdplic.app import build_recorded_client, build_server, install_reactor  # noqa: E402
from rdplic.capture.recorder import CaptureRecorder  # noqa: E402
from rdplic.core.client_store import MemoryLicenseStore  # noqa: E402
from rdplic.licensing.model import CalType  # noqa: E402

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _seeded(seed: int) -> Callable[[int], bytes]:
    draw = random.Random(seed)
    return lambda size: draw.randbytes(size)


def record(out: Path, security: str) -> list[Path]:
    """Record the scenarios over one security layer; returns the files written."""
    reactor = install_reactor()
    from twisted.internet import defer, task

    from rdplic.net.client import license_once
    from rdplic.net.server import listen_tcp

    out.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="rdplic-captures-"))
    clock = {"now": START}
    app = build_server(
        state,
        security="rdp" if security == "rdp" else "tls",
        random_bytes=_seeded(14),
        rng=random.Random(14),
        now=lambda: clock["now"],
    )
    client_security = "rdp" if security == "rdp" else "tls"
    device = MemoryLicenseStore()
    written: list[Path] = []

    @defer.inlineCallbacks
    def one(name: str, store: MemoryLicenseStore, machine: str) -> Any:
        path = out / f"rdplic-client-{security}-{name}.pcapng"
        factory = app.twisted_factory(reactor, capture=path, capture_secrets=True)
        port = listen_tcp(reactor, 0, factory, interface="127.0.0.1")
        # The client side too, as `rdplic client --capture` records it.
        client_path = out / f"rdplic-client-{security}-{name}.client.pcapng"
        client_recorder = CaptureRecorder(client_path)
        core = build_recorded_client(
            client_recorder,
            machine_name=machine,
            user_name="alice",
            platform="windows-10",
            store=store,
            security=client_security,
            random_bytes=_seeded(zlib.crc32(f"{security}-{name}".encode())),
        )
        server_port = port.getHost().port
        stream = client_recorder.open_stream(("127.0.0.1", 50000), ("127.0.0.1", server_port), core)
        outcome = yield license_once(
            reactor, "127.0.0.1", server_port, core, now=lambda: clock["now"]
        )
        client_recorder.close_stream(stream)
        client_recorder.close()
        yield port.stopListening()
        yield factory.wait_idle(5)
        factory.decider.commit()
        factory.capture.close()
        written.extend((path, client_path))
        print(f"{path.name}: licensed={outcome.licensed} error={outcome.error!r}")
        clock["now"] += timedelta(minutes=5)

    @defer.inlineCallbacks
    def scenarios() -> Any:
        yield one("new-device", device, "PC1")
        yield one("no-cal-left", device, "PC1")
        other = MemoryLicenseStore()
        yield one("lapsed-new-device", other, "PC2")
        clock["now"] += timedelta(days=91)
        yield one("lapsed-temporary", other, "PC2")
        app.admin.add_key_pack(clock["now"], cal_type=CalType.PER_DEVICE, count=1)
        app.store.commit_group()
        yield one("upgrade", device, "PC1")
        yield one("valid-client", device, "PC1")
        # a tampered CAL: one byte of the license the device holds changed
        tampered = MemoryLicenseStore()
        for key, blob in device.licenses.items():
            changed = bytearray(blob)
            changed[len(changed) // 2] ^= 0x01
            tampered.store(key, bytes(changed))
        yield one("tampered-license", tampered, "PC1")
        yield one("deleted-license", MemoryLicenseStore(), "PC1")

    done = scenarios()
    done.addBoth(lambda result: reactor.stop() or result)
    task.deferLater(reactor, 0, lambda: None)
    reactor.run()
    app.store.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--security", nargs="+", choices=("rdp", "tls"), default=["rdp", "tls"])
    args = parser.parse_args()
    for security in args.security:
        # One reactor per process: each security layer in its own process.
        if len(args.security) > 1:
            import subprocess

            subprocess.run(
                [sys.executable, __file__, str(args.out), "--security", security], check=True
            )
        else:
            record(args.out, security)
    return 0


if __name__ == "__main__":
    sys.exit(main())
