"""The one place that wires rdplic together: a server or a client from a few plain arguments.

``rdplic serve``, the coming ``rdplic client``, ``load`` and ``replay``, the benchmarks and
the tests build their servers and clients here, so that nothing else knows how the
identity, the store, the license server's policy, the connection and licensing machines,
the decider and the Twisted factory fit together.

* `build_server` opens (or creates) a state directory and returns a `ServerApp`: the
  connection-machine factory (`ServerApp.make_connection`), the license server
  (`ServerApp.policy`, `ServerApp.admin`, over `ServerApp.store`), and, for a reactor, the
  Twisted factory (`ServerApp.factory`, made by `ServerApp.twisted_factory`).
* `build_client` returns a `ClientConnection` for one simulated device.
* `serve_forever` runs a server on Twisted's asyncio reactor until SIGTERM or SIGINT
  (what ``rdplic serve`` does once its options are parsed).

Floors (architecture invariant 2 and README "Architecture"): this module sits with
`rdplic.net` above the cores, the license server and the store, and below `rdplic.cli`.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rdplic.core.client_store import ClientLicenseStore, MemoryLicenseStore
from rdplic.core.connection_client import ClientConnection, ClientConnectionConfig
from rdplic.core.connection_server import ServerConnection, ServerConnectionConfig
from rdplic.core.decisions import HostLicensing
from rdplic.core.licensing_client import ClientConfig, LicensingClient
from rdplic.core.licensing_server import LicensingServer, ServerConfig
from rdplic.core.platforms import CLIENT_PLATFORMS, ClientPlatform, hardware_id
from rdplic.crypto.rdp_security import EncryptionLevel
from rdplic.errors import UsageError
from rdplic.identity import ServerIdentity
from rdplic.licensing.admin import LicenseAdmin
from rdplic.licensing.hostconfig import HostConfig
from rdplic.licensing.policy import LicensePolicy, RandomSource
from rdplic.licensing.signer import CryptoLicenseSigner
from rdplic.licensing.store import LicenseStore, read_clock_offset
from rdplic.pdu.framing import Protocol
from rdplic.store import open_store
from rdplic.store.deployment import join_deployment

__all__ = [
    "RDP_VERSIONS",
    "SECURITY_CHOICES",
    "ClientSecurity",
    "ServeOptions",
    "ServerApp",
    "build_client",
    "build_recorded_client",
    "build_server",
    "install_reactor",
    "serve_forever",
]

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

SECURITY_CHOICES: dict[str, tuple[bool, bool]] = {
    "rdp": (True, False),
    "tls": (False, True),
    "rdp,tls": (True, True),
}
"""The security layers a server offers: (Standard RDP Security, TLS)."""

RandomBytes = Callable[[int], bytes]
Now = Callable[[], datetime]


@dataclasses.dataclass
class ServerApp:
    """A server made by `build_server`; see the module docstring."""

    state_dir: Path
    identity: ServerIdentity
    store: LicenseStore
    policy: LicensePolicy
    admin: LicenseAdmin
    host: HostConfig
    connection_config: ServerConnectionConfig
    licensing_config: ServerConfig
    random_bytes: RandomBytes
    clock: Callable[[], Now]
    """Makes the clock of one connection: real time plus the administrator's offset,
    read when the connection is accepted (so ``rdplic clock advance`` is seen by the
    next connection without a store read per packet)."""
    factory: Any = None
    """The Twisted factory, once `twisted_factory` made it."""

    def licensing(
        self,
        user: str,
        machine: str,
        preamble_version: int,
        *,
        random_bytes: RandomBytes | None = None,
        recording: Any = None,
    ) -> LicensingServer:
        """The licensing machine of one connection (after its Client Info); a capture's
        ``recording`` (`rdplic.capture.recording.Recording`) notes the host it was made for."""
        config = self.licensing_config
        if preamble_version == 2:
            config = dataclasses.replace(config, preamble_version=2)
        host = self.host_licensing()
        if recording is not None:
            recording.licensing_made(user, machine, preamble_version, host)
        return LicensingServer(
            config,
            host,
            random_bytes=random_bytes or self.random_bytes,
            client_user_name=user,
            client_machine_name=machine,
        )

    def host_licensing(self) -> HostLicensing:
        """What the licensing machine needs of the host, as configured now."""
        return self.policy.host()

    def make_connection(self, hostile: Any = None) -> ServerConnection:
        """The sans-IO connection machine of one accepted connection; in hostile-server
        mode ``hostile`` is the connection's `rdplic.hostile.HostileConnection`, whose
        strategy the machine applies to the licensing PDUs it encrypts."""
        return ServerConnection(
            self.connection_config,
            self.licensing,
            random_bytes=self.random_bytes,
            licensing_mutator=None if hostile is None else hostile.mutate_message,
        )

    def make_recorded_connection(self, recorder: Any, hostile: Any = None) -> Any:
        """`make_connection` under a capture's recorder (`rdplic.capture.recorder`): the
        machine draws its randomness through the recording and notes its host (and, in
        hostile-server mode, the profile, seed and connection number replay re-applies)."""

        def make(recorded: Any) -> ServerConnection:
            def licensing(user: str, machine: str, preamble: int) -> LicensingServer:
                return self.licensing(
                    user,
                    machine,
                    preamble,
                    random_bytes=recorded.random_bytes,
                    recording=recorded.recording,
                )

            return ServerConnection(
                self.connection_config,
                licensing,
                random_bytes=recorded.random_bytes,
                licensing_mutator=None if hostile is None else hostile.mutate_message,
            )

        core = recorder.server_core(
            self.connection_config, self.licensing_config, self.random_bytes, make
        )
        if hostile is not None:
            core.recording.hostile_run(hostile.profile.name, hostile.seed, hostile.index)
        return core

    def twisted_factory(
        self,
        reactor: Any,
        *,
        limits: Any = None,
        tls_keylog: Path | None = None,
        capture: Path | None = None,
        capture_secrets: bool = False,
        debug: bool = False,
        hostile: Any = None,
    ) -> Any:
        """The Twisted factory of `rdplic.net.server` over this server (Twisted imported
        here: the cores, the policy and the store work without it).  With ``capture``
        every connection is recorded there (`rdplic.capture.recorder`), with the private
        keys when ``capture_secrets``."""
        from rdplic.capture.recorder import CaptureRecorder
        from rdplic.net.server import RdpServerFactory, ServerLimits
        from rdplic.net.tls import load_or_create_certificate, server_tls_context

        tls = None
        if self.connection_config.allow_tls:
            certificate = load_or_create_certificate(self.state_dir)
            tls = server_tls_context(certificate, keylog_path=tls_keylog)
        recorder = None
        make_core: Callable[..., Any] = self.make_connection
        if capture is not None:
            recorder = CaptureRecorder(capture, secrets=capture_secrets)
            make_core = lambda *hostile: self.make_recorded_connection(recorder, *hostile)  # noqa: E731
        self.factory = RdpServerFactory(
            make_core,
            self.decider(reactor),
            now=self.clock(),
            reactor=reactor,
            tls=tls,
            limits=limits or ServerLimits(),
            capture=recorder,
            connection_clock=self.clock,
            debug=debug,
            hostile=hostile,
        )
        return self.factory

    def decider(self, reactor: Any) -> Any:
        """Who answers the licensing core: in the reactor thread with group commit for the
        state directory's SQLite file, in a thread pool for a shared database (the reactor
        never waits on it; `rdplic.net.decider`).  History events name this host."""
        from rdplic.licensing.store import Durability
        from rdplic.net.decider import InlineDecider, PooledDecider

        host = self.identity.terminal_server_name
        if self.store.durability is Durability.GROUPED:
            return InlineDecider(self.policy, self.store, reactor, host=host)
        return PooledDecider(self.policy, self.store, reactor, host=host)

    def close(self) -> None:
        """Close the capture (if any) and the store (committing what is pending)."""
        capture = getattr(self.factory, "capture", None)
        if capture is not None:
            capture.close()
        self.store.close()


def build_server(
    state_dir: str | os.PathLike[str],
    *,
    security: str = "rdp,tls",
    encryption_level: Literal["client-compatible", "high"] = "client-compatible",
    windows: str | None = None,
    licensing_mode: str | None = None,
    first_license: str | None = None,
    license_certificate: Literal["x509", "proprietary"] = "x509",
    demand_active: bool = False,
    max_frame_size: int = 16384,
    store: LicenseStore | None = None,
    group_commit: bool = False,
    db: str | None = None,
    random_bytes: RandomBytes = os.urandom,
    rng: RandomSource | None = None,
    now: Now | None = None,
) -> ServerApp:
    """A server over the state directory ``state_dir`` (created on first use).

    ``windows``, ``licensing_mode`` and ``first_license`` change the stored host
    configuration, as ``rdplic config set`` does; None keeps the stored value.  ``store``
    defaults to the state directory's SQLite file, group-committed with ``group_commit``
    (what ``rdplic serve`` runs); ``db`` names a shared PostgreSQL database instead
    (``--db``), whose license server identity this host joins
    (`rdplic.store.deployment`).  ``random_bytes`` (the machines' randomness), ``rng``
    (the policy's CAL lifetimes) and ``now`` (the clock, offset excluded) are for tests and
    replay.
    """
    if security not in SECURITY_CHOICES:
        raise ValueError(f"security {security!r} is not one of {', '.join(SECURITY_CHOICES)}")
    allow_rdp, allow_tls = SECURITY_CHOICES[security]
    directory = Path(state_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    identity = ServerIdentity.load_or_create(directory)
    if store is None:
        store = open_store(directory, defer_commits=group_commit, db=db)
    # One license server for every host of a shared database (rdplic.store.deployment).
    identity = join_deployment(identity, store, publish=bool(db))
    signer = CryptoLicenseSigner(identity.license_server)
    draw = rng or random.SystemRandom()
    host = LicensePolicy(store, signer, draw).config()
    changes = {
        key: value
        for key, value in (
            ("windows_version", windows),
            ("licensing_mode", licensing_mode),
            ("first_license", first_license),
        )
        if value is not None
    }
    for key, value in changes.items():
        host = host.with_setting(key, value)
    policy = LicensePolicy(store, signer, draw, config=host if changes else None)
    store.commit_group()  # the configuration written above
    release = host.windows_version.upper()
    connection_config = ServerConnectionConfig(
        proprietary_key=identity.proprietary_key,
        proprietary_certificate=identity.proprietary_certificate,
        allow_rdp_security=allow_rdp,
        allow_tls=allow_tls,
        encryption_level=EncryptionLevel.HIGH
        if encryption_level == "high"
        else EncryptionLevel.CLIENT_COMPATIBLE,
        rdp_version=RDP_VERSIONS.get(release, RDP_VERSIONS["2019"]),
        demand_active=demand_active,
        max_frame_size=max_frame_size,
    )
    if license_certificate == "x509":
        private_key, certificate = identity.terminal_server_key, identity.x509_chain
    else:
        private_key, certificate = identity.proprietary_key, identity.proprietary_certificate
    licensing_config = ServerConfig(
        private_key=private_key,
        certificate=certificate,
        license_issuer=identity.license_server.certificate,
        # The connection's own idle and total timeouts apply (rdplic.net.server).
        idle_timeout=None,
    )
    return ServerApp(
        state_dir=directory,
        identity=identity,
        store=store,
        policy=policy,
        admin=LicenseAdmin(store),
        host=host,
        connection_config=connection_config,
        licensing_config=licensing_config,
        random_bytes=random_bytes,
        clock=_offset_clock(store, now or (lambda: datetime.now(UTC))),
    )


def _offset_clock(store: LicenseStore, now: Now) -> Callable[[], Now]:
    """The clock of each new connection: ``now()`` plus the administrator's offset, read
    again only when the store's settings token says a setting may have changed."""
    token_read: object = None
    offset = timedelta(0)

    def connection_clock() -> Now:
        nonlocal token_read, offset
        token = store.settings_token()
        if token is None or token != token_read:
            token_read, offset = token, read_clock_offset(store)
        current = offset
        return lambda: now() + current

    return connection_clock


ClientSecurity = Literal["rdp", "tls", "negotiate", "rdp-legacy"]
"""How the simulated client opens the connection: ``rdp`` (RDP_NEG_REQ asking for
Standard RDP Security), ``tls`` (asking for TLS only), ``negotiate`` (offering both), or
``rdp-legacy`` (no RDP_NEG_REQ at all, as RDP 5 clients and ``xfreerdp /sec:rdp`` do)."""

_REQUESTED: dict[str, int | None] = {
    "rdp": int(Protocol.PROTOCOL_RDP),
    "tls": int(Protocol.PROTOCOL_SSL),
    "negotiate": int(Protocol.PROTOCOL_SSL),
    "rdp-legacy": None,
}


def build_client(
    *,
    machine_name: str = "RDPLIC",
    user_name: str = "rdplic",
    password: str = "",
    platform: ClientPlatform | str = "freerdp",
    hwid: bytes | None = None,
    store: ClientLicenseStore | None = None,
    security: ClientSecurity = "negotiate",
    encryption_methods: int = 0x0B,
    random_bytes: RandomBytes = os.urandom,
) -> ClientConnection:
    """The connection machine of one simulated device (see `ClientConnection`).

    ``hwid`` defaults to the platform's derivation from ``machine_name``
    (`rdplic.core.platforms.hardware_id`); ``store`` (where the device keeps its licenses)
    to an empty one in memory.
    """
    preset = CLIENT_PLATFORMS[platform] if isinstance(platform, str) else platform
    device_hwid = hwid if hwid is not None else hardware_id(preset, machine_name)
    licenses = store if store is not None else MemoryLicenseStore()

    def licensing(certificate: bytes | None) -> LicensingClient:
        return LicensingClient(
            ClientConfig(
                platform=preset,
                hwid=device_hwid,
                user_name=user_name,
                machine_name=machine_name,
                store=licenses,
                server_certificate=certificate,
            ),
            random_bytes=random_bytes,
        )

    config = ClientConnectionConfig(
        requested_protocols=_REQUESTED[security],
        client_name=machine_name,
        user_name=user_name,
        password=password,
        encryption_methods=encryption_methods,
    )
    return ClientConnection(config, licensing, random_bytes=random_bytes)


def build_recorded_client(recorder: Any, *, write_bytes: bool = True, **arguments: Any) -> Any:
    """`build_client` under a capture's recorder (`rdplic.capture.recorder.CaptureRecorder`):
    the machine draws its randomness through the recording, which keeps ``arguments`` and
    the licenses of the device's store (those a `MemoryLicenseStore` holds now, and any
    other store's the client looks up), so that ``rdplic replay`` can rebuild the client.
    ``write_bytes`` False: the adapter writes the stream's bytes (`rdplic.net.client`)."""
    store = arguments.pop("store", None)
    if store is None:  # (an empty store is falsy: it has a length)
        store = MemoryLicenseStore()
    draw = arguments.pop("random_bytes", os.urandom)
    licenses = [
        _license_json(key, blob) for key, blob in sorted(getattr(store, "licenses", {}).items())
    ]
    recorded = {
        k: v.hex() if isinstance(v, bytes) else v.name if isinstance(v, ClientPlatform) else v
        for k, v in arguments.items()
    }

    def make(core: Any) -> ClientConnection:
        found = _FoundLicenses(store, licenses)
        return build_client(random_bytes=core.random_bytes, store=found, **arguments)

    return recorder.client_core(recorded, licenses, draw, make, write_bytes=write_bytes)


def _license_json(key: Any, blob: bytes) -> dict[str, Any]:
    return {
        "version": key.version,
        "scope": key.scope,
        "company_name": key.company_name,
        "product_id": key.product_id,
        "blob": blob.hex(),
    }


class _FoundLicenses:
    """A client's license store that notes, in its capture's recording, each license the
    client looked up and found (a replay's store holds them)."""

    def __init__(self, store: ClientLicenseStore, licenses: list[dict[str, Any]]) -> None:
        self._store = store
        self._licenses = licenses

    def find(self, wanted: Any) -> Any:
        found = self._store.find(wanted)
        if found is not None:
            entry = _license_json(*found)
            if entry not in self._licenses:
                self._licenses.append(entry)
        return found

    def store(self, key: Any, license_info: bytes) -> None:
        self._store.store(key, license_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """How `serve_forever` listens, logs and stops."""

    host: str = "127.0.0.1"
    port: int = 3389
    backlog: int = 1024
    limits: Any = None
    """`rdplic.net.server.ServerLimits`; None for its defaults."""
    tls_keylog: Path | None = None
    capture: Path | None = None
    capture_secrets: bool = False
    log_format: str = "text"
    log_level: str = "info"
    log_file: Path | None = None
    shutdown_grace: float = 10.0
    web: Any = None
    """`rdplic.web.WebOptions` of ``--web``: the licensing manager in the browser; None: none."""
    # rdplic serve --workers (rdplic.net.workers): the socket the supervisor listens on,
    # and this worker's number (its logging was started by the supervisor).
    listen_fd: int | None = None
    worker: int | None = None
    hostile: str | None = None
    """``--hostile PROFILE``: mutate the licensing PDUs sent (`rdplic.hostile`); None: honest."""
    hostile_seed: int = 0


def _listen_reason(error: BaseException) -> str:
    """What the operating system said (``Address already in use``), without Twisted's
    wrapping."""
    cause = getattr(error, "socketError", None) or error
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause)


def _hostile(options: ServeOptions) -> Any:
    """The `rdplic.hostile.HostileServer` of ``--hostile``, or None."""
    if options.hostile is None:
        return None
    from rdplic.hostile import HostileServer

    return HostileServer(options.hostile, options.hostile_seed)


def install_reactor() -> Any:
    """Twisted's asyncio reactor (architecture invariant 7), installed before anything
    imports ``twisted.internet.reactor``; the reactor already installed otherwise."""
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        install: Any = asyncioreactor.install  # untyped in Twisted
        install()
    from twisted.internet import reactor

    return reactor


def serve_forever(make_server: Callable[[], ServerApp], options: ServeOptions) -> int:
    """Log, build the server, listen, and run until SIGTERM or SIGINT; then stop accepting,
    let the connections in flight finish for ``shutdown_grace`` seconds, and close the
    store.  Returns the exit status."""
    import signal

    reactor = install_reactor()
    from twisted.internet import defer
    from twisted.internet.error import CannotListenError
    from twisted.logger import Logger

    from rdplic.crypto.rsa import rsa_backend
    from rdplic.net.logs import start_logging
    from rdplic.net.server import listen_tcp
    from rdplic.statedir import state_dir_warning

    if options.worker is None:
        start_logging(options.log_format, options.log_level, options.log_file)
    log = Logger(namespace="rdplic.serve")
    app = make_server()
    warning = state_dir_warning(app.state_dir)
    if warning:
        log.warn("{warning}", warning=warning)
    factory = app.twisted_factory(
        reactor,
        limits=options.limits,
        tls_keylog=options.tls_keylog,
        capture=options.capture,
        capture_secrets=options.capture_secrets,
        debug=options.log_level == "debug",
        hostile=_hostile(options),
    )
    try:
        if options.listen_fd is None:
            port = listen_tcp(
                reactor, options.port, factory, backlog=options.backlog, interface=options.host
            )
        else:
            from rdplic.net.server import adopt_tcp

            port = adopt_tcp(reactor, options.listen_fd, factory)
    except (CannotListenError, OSError) as error:
        # A port in use or an address this machine does not have: an everyday mistake,
        # one line and exit status 2 (rdplic.cli.conventions), not a traceback.
        app.close()
        raise UsageError(
            f"cannot listen on {options.host}:{options.port}: {_listen_reason(error)}"
        ) from None
    address = port.getHost()
    allow_rdp = app.connection_config.allow_rdp_security
    allow_tls = app.connection_config.allow_tls
    security = ",".join(name for name, on in (("rdp", allow_rdp), ("tls", allow_tls)) if on)
    log.info(
        ("rdplic serve listening" if options.worker is None else f"worker {options.worker} serving")
        + " on {host}:{port} (security {security}, Windows {windows}, "
        "{mode}, state {state_dir}, RSA by {rsa})",
        host=address.host,
        port=address.port,
        security=security,
        windows=app.host.windows_version.upper(),
        mode=app.host.licensing_mode.value,
        state_dir=str(app.state_dir),
        rsa=rsa_backend(),
    )
    if options.hostile is not None:
        log.warn(
            "HOSTILE mode: licensing PDUs mutated by profile {profile} (seed {seed})",
            profile=options.hostile,
            seed=options.hostile_seed,
        )

    console = None
    if options.web is not None:
        from rdplic.web import WebConsole

        console = WebConsole(app, factory, reactor, options.web)
        try:
            web = console.listen().getHost()
        except Exception:
            port.stopListening()
            app.close()
            raise
        log.info("web console on http://{host}:{port}/", host=web.host, port=web.port)

    def shutdown() -> defer.Deferred[None]:
        log.info("stopping: no new connections, {count} in flight", count=len(factory.active))
        if console is not None:
            console.stop()
        stopped = defer.maybeDeferred(port.stopListening)
        stopped.addCallback(lambda _: factory.wait_idle(options.shutdown_grace))

        def close(result: object) -> object:
            factory.decider.commit()
            app.close()
            waits = getattr(app.store, "lock_waits", None)
            if waits is not None and waits.count:
                log.info(
                    "store write lock: taken {count} times, waited {total:.3f} s in all,"
                    " longest {longest:.1f} ms",
                    count=waits.count,
                    total=waits.total,
                    longest=waits.longest * 1000,
                )
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
