"""One simulated device's connection: `build_client`, `license_once`, its result.

Shared by ``rdplic client`` (a machine directory on disk) and ``rdplic load`` (devices in
memory); `rdplic.app.build_client` does the wiring.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

from rdplic.app import ClientSecurity, build_client, build_recorded_client
from rdplic.core.client_store import ClientLicenseStore
from rdplic.core.platforms import ClientPlatform
from rdplic.net.capture import PcapngWriter
from rdplic.net.client import ClientOutcome, license_once
from rdplic.pdu.framing import NegotiationFailureCode
from rdplic.simclient.results import ConnectionResult, PresentingStore

__all__ = ["ENCRYPTION_METHODS", "connect_device", "run_until_fired"]

T = TypeVar("T")

ENCRYPTION_METHODS: dict[int | None, int] = {None: 0x0B, 40: 0x01, 56: 0x08, 128: 0x02}
"""CS_SECURITY encryptionMethods offered for ``--encryption`` (MS-RDPBCGR 2.2.1.3.3):
40-bit 0x01, 56-bit 0x08, 128-bit 0x02; all three by default."""


def connect_device(
    reactor: Any,
    host: str,
    port: int,
    *,
    machine_name: str,
    user_name: str,
    platform: ClientPlatform,
    hwid: bytes,
    store: ClientLicenseStore,
    security: ClientSecurity = "negotiate",
    encryption: int | None = None,
    timeout: float = 30.0,
    capture: PcapngWriter | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> defer.Deferred[ConnectionResult]:
    """Connect as this device and fire with its `ConnectionResult`.

    ``negotiate`` offers TLS and Standard RDP Security; a server that allows only the
    latter answers SSL_NOT_ALLOWED_BY_SERVER (MS-RDPBCGR 3.3.5.3.1), and a real client
    then connects again asking for Standard RDP Security (FreeRDP's nego_attempt_tls falls
    back to PROTOCOL_RDP on a new TCP connection; mstsc does the same). So does this one,
    once; the result is the second connection's.
    """
    once = functools.partial(
        _connect_once,
        reactor,
        host,
        port,
        machine_name=machine_name,
        user_name=user_name,
        platform=platform,
        hwid=hwid,
        store=store,
        encryption=encryption,
        timeout=timeout,
        capture=capture,
        random_bytes=random_bytes,
    )
    done = once(security=security)
    if security != "negotiate":
        return done

    def fall_back(result: ConnectionResult) -> ConnectionResult | defer.Deferred[ConnectionResult]:
        if result.negotiation_failure != NegotiationFailureCode.SSL_NOT_ALLOWED_BY_SERVER:
            return result
        return once(security="rdp")

    return done.addCallback(fall_back)


def _connect_once(
    reactor: Any,
    host: str,
    port: int,
    *,
    machine_name: str,
    user_name: str,
    platform: ClientPlatform,
    hwid: bytes,
    store: ClientLicenseStore,
    security: ClientSecurity,
    encryption: int | None,
    timeout: float,
    capture: PcapngWriter | None,
    random_bytes: Callable[[int], bytes],
) -> defer.Deferred[ConnectionResult]:
    """One TCP connection as this device."""
    presenting = PresentingStore(store)
    arguments: dict[str, Any] = {
        "machine_name": machine_name,
        "user_name": user_name,
        "platform": platform,
        "hwid": hwid,
        "store": presenting,
        "security": security,
        "encryption_methods": ENCRYPTION_METHODS[encryption],
        "random_bytes": random_bytes,
    }
    core: Any
    if capture is not None and hasattr(capture, "client_core"):
        # A replayable capture (rdplic client --capture): the recorder keeps the client's
        # arguments, randomness, clock and the licenses it presents; net.client the bytes.
        core = build_recorded_client(capture, write_bytes=False, **arguments)
    else:
        core = build_client(**arguments)
    done = license_once(reactor, host, port, core, timeout=timeout, capture=capture)

    def result(outcome: ClientOutcome) -> ConnectionResult:
        return ConnectionResult.from_outcome(outcome, presenting.presented)

    return done.addCallback(result)


def run_until_fired(make: Callable[[Any], defer.Deferred[T]]) -> T:
    """Run Twisted's asyncio reactor (installed here if need be) until the Deferred that
    ``make(reactor)`` returns fires; its result, or its failure raised.  The reactor runs
    once per process."""
    from rdplic.app import install_reactor

    reactor = install_reactor()
    box: list[T | Failure] = []

    def done(value: T | Failure) -> None:
        box.append(value)
        reactor.stop()

    def start() -> None:
        make(reactor).addBoth(done)

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    if not box:
        raise RuntimeError("the reactor stopped before the run ended")
    value = box[0]
    if isinstance(value, Failure):
        value.raiseException()
    return value
