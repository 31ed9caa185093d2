"""``rdplic serve``: the RDP front end that real clients connect to and get licensed by.

It listens like a Windows RD Session Host with its license server: X.224 negotiation
(Standard RDP Security and/or TLS, never CredSSP), the MCS/GCC connection sequence, the
Security Exchange, the Client Info PDU and the licensing phase, after which it ends the
connection the way a server that hosts no session does.  State (keys, certificates, the
SQLite store) lives in the state directory, created on first start.

Twisted runs on its asyncio reactor, installed here and nowhere else.  SIGTERM (or
SIGINT) stops accepting connections, lets the ones in flight finish for ``--shutdown-grace``
seconds, then closes the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from rdplic.errors import UsageError

__all__ = ["RDP_VERSIONS", "register", "run"]

RDP_VERSIONS: dict[str, int] = {
    "2000": 0x00080004,
    "2003": 0x00080004,
    "2008": 0x00080004,
    "2008R2": 0x00080004,
    "2012": 0x00080004,
    "2012R2": 0x00080004,
    "2016": 0x00080007,  # RDP 10.2 (1607)
    "2019": 0x0008000B,  # RDP 10.6 (1809)
    "2022": 0x0008000E,  # RDP 10.9 (as a 2022 capture shows)
    "2025": 0x00080011,  # RDP 10.12 (24H2)
}
"""SC_CORE version a Windows Server release sends (MS-RDPBCGR 2.2.1.4.2; approximate for
2016 and later: the build's RDP version)."""

_SECURITY_CHOICES = {
    "rdp": (True, False),
    "tls": (False, True),
    "rdp,tls": (True, True),
    "tls,rdp": (True, True),
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the RDP front end: real clients connect and are issued CALs",
        description=(
            "Listen for RDP clients as a Windows RD Session Host with its license server: "
            "run the connection sequence and the licensing phase, issue CALs, then end the "
            "connection. State lives in --state-dir (created on first start)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=3389, help="TCP port (0: any free port) [3389]")
    parser.add_argument("--state-dir", metavar="DIR", help="state directory (default: XDG data)")
    parser.add_argument(
        "--security",
        default="rdp,tls",
        choices=sorted(_SECURITY_CHOICES),
        help="security layers offered: rdp (Standard RDP Security), tls, or both "
        "(TLS when the client offers it) [rdp,tls]",
    )
    parser.add_argument(
        "--encryption-level",
        default="client-compatible",
        choices=("client-compatible", "high"),
        help="Standard RDP Security encryption level [client-compatible]",
    )
    parser.add_argument(
        "--windows",
        metavar="VERSION",
        choices=sorted(RDP_VERSIONS),
        help="emulated Windows Server release (stored; default: the stored one, else 2019)",
    )
    parser.add_argument(
        "--licensing-mode",
        choices=("per-device", "per-user", "personal", "remote-admin", "valid-client-only"),
        help="licensing mode (stored; default: the stored one, else per-device)",
    )
    parser.add_argument(
        "--first-license",
        choices=("temporary", "permanent"),
        help="what a new device gets first (stored; default: the stored one, else temporary)",
    )
    parser.add_argument(
        "--license-certificate",
        choices=("x509", "proprietary"),
        default="x509",
        help="certificate in the Server License Request: the X.509 chain the license server "
        "issued (as Windows with a license server) or the proprietary one [x509]",
    )
    parser.add_argument(
        "--demand-active",
        action="store_true",
        help="after licensing, send a Demand Active and wait for Confirm Active before "
        "disconnecting (clients then report the capability exchange)",
    )
    parser.add_argument("--capture", metavar="FILE", help="record every session to FILE (pcapng)")
    parser.add_argument(
        "--tls-keylog", metavar="FILE", help="append TLS secrets to FILE (NSS key log format)"
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log format [text]"
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warn", "error"), default="info", help="[info]"
    )
    parser.add_argument("--log-file", metavar="FILE", help="log there instead of stderr")
    parser.add_argument(
        "--max-connections", type=int, default=10_000, help="open connections at once [10000]"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=30.0, help="seconds without data [30]"
    )
    parser.add_argument(
        "--total-timeout", type=float, default=120.0, help="seconds per connection [120]"
    )
    parser.add_argument(
        "--max-frame-size", type=int, default=16384, help="largest frame accepted [16384]"
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds in-flight handshakes get to finish on SIGTERM [10]",
    )
    parser.add_argument("--backlog", type=int, default=1024, help="listen backlog [1024]")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {args.port}")
    if args.max_connections < 1:
        raise UsageError("--max-connections must be at least 1")
    for name in ("idle_timeout", "total_timeout", "shutdown_grace"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if not 1024 <= args.max_frame_size <= 0xFFFF:
        raise UsageError("--max-frame-size must be 1024 to 65535")


def _install_reactor() -> Any:
    """The asyncio reactor (architecture invariant 7), installed before anything imports
    ``twisted.internet.reactor``."""
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        install: Any = asyncioreactor.install  # untyped in Twisted
        install()
    from twisted.internet import reactor

    return reactor


def _start_logging(args: argparse.Namespace) -> IO[str]:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        jsonFileLogObserver,
        textFileLogObserver,
    )

    from rdplic.files import open_private

    stream: IO[str] = sys.stderr
    if args.log_file:
        # Logs name users and devices: 0600, like every file of the server's.
        stream = open_private(args.log_file, append=True, text=True)
    # Twisted's zope interfaces do not type-check as classes: observers are Any here.
    observer: Any = (
        jsonFileLogObserver(stream) if args.log_format == "json" else textFileLogObserver(stream)
    )
    predicate: Any = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(args.log_level))
    filtering: Any = FilteringLogObserver(observer, [predicate])
    globalLogBeginner.beginLoggingTo([filtering], redirectStandardIO=False)
    return stream


def run(args: argparse.Namespace) -> int:
    """Start the server and run until SIGTERM / SIGINT."""
    _check(args)
    from rdplic.statedir import ensure_state_dir

    state_dir = ensure_state_dir(args.state_dir)
    reactor = _install_reactor()

    from twisted.internet import defer
    from twisted.logger import Logger

    from rdplic.core.connection_server import ServerConnection, ServerConnectionConfig
    from rdplic.core.licensing_server import LicensingServer, ServerConfig
    from rdplic.crypto.rdp_security import EncryptionLevel
    from rdplic.identity import ServerIdentity
    from rdplic.licensing import CryptoLicenseSigner, LicenseService, SystemClock
    from rdplic.net.capture import PcapngWriter
    from rdplic.net.server import RdpServerFactory, ServerLimits, listen_tcp
    from rdplic.net.tls import TlsContextFactory, load_or_create_certificate
    from rdplic.store import open_store, read_clock_offset

    _start_logging(args)
    log = Logger(namespace="rdplic.serve")
    from rdplic.crypto.rsa import rsa_backend
    from rdplic.statedir import state_dir_warning

    warning = state_dir_warning(state_dir)
    if warning:
        log.warn("{warning}", warning=warning)

    allow_rdp, allow_tls = _SECURITY_CHOICES[args.security]
    identity = ServerIdentity.load_or_create(state_dir)
    # Group commit: the decisions of one reactor turn share one commit; the server holds
    # each answer until it is durable (rdplic.net.server).
    store = open_store(state_dir, defer_commits=True)
    clock = SystemClock(offset=lambda: read_clock_offset(store))

    offset_token: object = None  # the settings token the offset was read at
    offset = timedelta(0)

    def connection_clock() -> Callable[[], datetime]:
        # The offset is read when a connection is accepted, so `rdplic clock advance` is
        # seen by the next connection, without a store read for every packet; and read
        # again only when the store's settings token says a setting may have changed.
        nonlocal offset_token, offset
        token = store.settings_token()
        if token is None or token != offset_token:
            offset_token, offset = token, read_clock_offset(store)
        current = offset
        return lambda: datetime.now(UTC) + current

    signer = CryptoLicenseSigner(identity.license_server)
    stored = LicenseService(store, signer, random.SystemRandom()).config()
    changes = {
        key: value
        for key, value in (
            ("windows_version", args.windows),
            ("licensing_mode", args.licensing_mode),
            ("first_license", args.first_license),
        )
        if value is not None
    }
    host = stored
    for key, value in changes.items():
        host = host.with_setting(key, value)
    service = LicenseService(store, signer, random.SystemRandom(), config=host if changes else None)
    windows = host.windows_version.upper()
    store.commit_deferred()  # the configuration written above

    tls = None
    if allow_tls:
        certificate = load_or_create_certificate(state_dir)
        keylog = Path(args.tls_keylog) if args.tls_keylog else None
        tls = TlsContextFactory(certificate, keylog_path=keylog)

    connection_config = ServerConnectionConfig(
        proprietary_key=identity.proprietary_key,
        proprietary_certificate=identity.proprietary_certificate,
        allow_rdp_security=allow_rdp,
        allow_tls=allow_tls,
        encryption_level=EncryptionLevel.HIGH
        if args.encryption_level == "high"
        else EncryptionLevel.CLIENT_COMPATIBLE,
        rdp_version=RDP_VERSIONS.get(windows, RDP_VERSIONS["2019"]),
        demand_active=args.demand_active,
        max_frame_size=args.max_frame_size,
    )
    if args.license_certificate == "x509":
        licensing_config = ServerConfig(
            private_key=identity.terminal_server_key,
            certificate=identity.x509_chain,
            license_issuer=identity.license_server.certificate,
            idle_timeout=None,
        )
    else:
        licensing_config = ServerConfig(
            private_key=identity.proprietary_key,
            certificate=identity.proprietary_certificate,
            license_issuer=identity.license_server.certificate,
            idle_timeout=None,
        )
    rdp4_config = dataclasses.replace(licensing_config, preamble_version=2)

    def make_licensing(user: str, machine: str, preamble_version: int) -> LicensingServer:
        config = rdp4_config if preamble_version == 2 else licensing_config
        return LicensingServer(
            config,
            service,
            random_bytes=os.urandom,
            client_user_name=user,
            client_machine_name=machine,
        )

    def make_core() -> ServerConnection:
        return ServerConnection(connection_config, make_licensing, random_bytes=os.urandom)

    limits = ServerLimits(
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        total_timeout=args.total_timeout,
    )
    capture = PcapngWriter(Path(args.capture)) if args.capture else None
    factory = RdpServerFactory(
        make_core,
        now=clock.now,
        reactor=reactor,
        tls=tls,
        limits=limits,
        capture=capture,
        connection_clock=connection_clock,
        debug=args.log_level == "debug",
        commits=store,
    )
    port = listen_tcp(reactor, args.port, factory, backlog=args.backlog, interface=args.host)
    address = port.getHost()
    log.info(
        "rdplic serve listening on {host}:{port} (security {security}, Windows {windows}, "
        "{mode}, state {state_dir}, RSA by {rsa})",
        host=address.host,
        port=address.port,
        security=args.security,
        windows=windows,
        mode=host.licensing_mode.value,
        state_dir=str(state_dir),
        rsa=rsa_backend(),
    )

    def shutdown() -> defer.Deferred[None]:
        log.info("stopping: no new connections, {count} in flight", count=len(factory.active))
        stopped = defer.maybeDeferred(port.stopListening)
        stopped.addCallback(lambda _: factory.wait_idle(args.shutdown_grace))

        def close(result: object) -> object:
            if capture is not None:
                capture.close()
            store.close()
            log.info("store closed")
            return result

        stopped.addBoth(close)
        return stopped

    reactor.addSystemEventTrigger("before", "shutdown", shutdown)

    # Our own SIGTERM / SIGINT handlers instead of Twisted's: a second signal while the
    # in-flight handshakes finish (as `timeout` or a service manager sends) must not make
    # Twisted stop a reactor that is already stopping and log a traceback.
    stopping = False

    def stop_once() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            reactor.stop()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received {signal}", signal=signal.Signals(signum).name)
        reactor.callFromThread(stop_once)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    reactor.run(installSignalHandlers=False)
    return 0
