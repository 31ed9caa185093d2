"""Simulated devices against one or more ``rdplic serve`` ports, bounded in count and time.

Each device (machine name PREFIX + number, its own hardware id and license store in
memory) connects to every port of ``--ports`` in turn, keeping the licenses it received,
so a device licensed through one host then presents its CAL to the next.  Prints one JSON
document: per device and connection, what the client saw (licensed, the license bytes'
SHA-256, the error), and the elapsed time.  The tests and benchmarks/scale.py run it as a
process of its own (it installs Twisted's asyncio reactor).

With one port and ``--load``, the devices are ``rdplic load``'s (its Python API,
`rdplic.simclient.load.load_deferred`, each device new): the report lists every connection's
outcome and the SHA-256 of every license the devices hold.  Several ports (one device
visiting several hosts in turn) use the client machines of `rdplic.app.build_client`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True, help="comma-separated ports on 127.0.0.1")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--prefix", default="DEV")
    parser.add_argument("--timeout", type=float, default=30.0, help="per connection")
    parser.add_argument("--deadline", type=float, default=240.0, help="for the whole run")
    parser.add_argument("--load", action="store_true", help="through rdplic load (one port)")
    args = parser.parse_args()
    if args.load:
        return _through_load(args)

    from twisted.internet import asyncioreactor

    install: Any = asyncioreactor.install
    install()
    from twisted.internet import defer, reactor

    from rdplic.app import build_client
    from rdplic.core import events as lic
    from rdplic.core.client_store import MemoryLicenseStore
    from rdplic.net.client import license_once

    ports = [int(p) for p in args.ports.split(",")]
    results: list[dict[str, Any]] = []
    semaphore = defer.DeferredSemaphore(args.concurrency)
    started = time.monotonic()

    def one_device(index: int) -> defer.Deferred[None]:
        name = f"{args.prefix}{index:05d}"
        store = MemoryLicenseStore()
        record: dict[str, Any] = {"device": name, "connections": []}
        results.append(record)

        @defer.inlineCallbacks
        def run() -> Any:
            for port in ports:
                if time.monotonic() - started > args.deadline:
                    record["connections"].append({"port": port, "error": "deadline"})
                    continue
                core = build_client(
                    machine_name=name, user_name="loaduser", store=store, security="rdp"
                )
                outcome = yield license_once(reactor, "127.0.0.1", port, core, timeout=args.timeout)
                got = [
                    e
                    for e in outcome.events
                    if isinstance(e, lic.NewLicenseReceived | lic.UpgradedLicenseReceived)
                ]
                record["connections"].append(
                    {
                        "port": port,
                        "licensed": outcome.licensed,
                        "valid_client": any(isinstance(e, lic.ValidClient) for e in outcome.events),
                        "received": [hashlib.sha256(e.license_info).hexdigest() for e in got],
                        "error": outcome.error,
                        "error_info": outcome.error_info,
                        "kinds": sorted({type(e).__name__ for e in outcome.events}),
                    }
                )

        return semaphore.run(run)

    done = defer.DeferredList([one_device(i) for i in range(args.devices)], consumeErrors=True)
    done.addBoth(lambda _: reactor.stop())
    reactor.run()
    elapsed = time.monotonic() - started
    json.dump({"elapsed": elapsed, "devices": results}, sys.stdout)
    return 0


def _through_load(args: argparse.Namespace) -> int:
    """``rdplic load`` against one port: every connection's outcome, every license held."""
    from rdplic.simclient.load import DevicePool, LoadOptions, load_deferred
    from rdplic.simclient.session import run_until_fired

    options = LoadOptions(
        port=int(args.ports),
        clients=args.devices,
        concurrency=args.concurrency,
        security="rdp",
        timeout=args.timeout,
        name_prefix=args.prefix,
    )
    pool = DevicePool(options)
    started = time.monotonic()
    report = run_until_fired(lambda reactor: load_deferred(reactor, options, pool))
    connections = [
        {
            "licensed": result.outcome.licensed,
            "kind": result.kind,
            "error_info": result.error_info,
            "error": result.error,
        }
        for result in report.results
    ]
    received = [
        hashlib.sha256(blob).hexdigest()
        for device in pool.devices
        for blob in device.store.licenses.values()
    ]
    json.dump(
        {"elapsed": time.monotonic() - started, "connections": connections, "received": received},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
