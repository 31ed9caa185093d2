"""Two-party harness for the licensing core: our client core against our server core.

After aioquic's ``client_and_server`` and h11's ``ConnectionPair``: both
machines in memory, a fixed clock, seeded random sources, and a pump that
moves PDUs between them until both are quiet.  The server machine's questions
(`DecisionNeeded`) are answered by the session's ``decide``: by default the
real license server's policy (`rdplic.licensing.LicensePolicy`) on a SQLite
store, signing real licenses (`rdplic.crypto.license`); keys are small
(512-bit) for speed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from rdplic.core import (
    CLIENT_PLATFORMS,
    ClientConfig,
    Decision,
    DecisionNeeded,
    Event,
    LicensingClient,
    LicensingServer,
    MemoryLicenseStore,
    ServerConfig,
    hardware_id,
)
from rdplic.core._common import build_pdu, error_message, to_datetime
from rdplic.crypto import (
    LicenseServerIdentity,
    LicensingKeys,
    RsaPrivateKey,
    build_license_server_certificate,
    build_proprietary_certificate,
    build_terminal_server_certificate,
    build_x509_chain,
    decrypt_premaster,
    derive_licensing_keys,
    generate_rsa_key,
)
from rdplic.licensing import CalType, HostConfig, LicenseAdmin, LicensePolicy
from rdplic.licensing.signer import CryptoLicenseSigner
from rdplic.pdu.licensing import (
    ClientLicenseInfo,
    ClientNewLicenseRequest,
    PreambleFlags,
    ServerLicenseRequest,
    decode_licensing_pdu,
)
from rdplic.store import SqliteStore

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

Feed = Literal["whole", "bytes", "stream"]


def error_pdu(code: int, transition: int) -> bytes:
    """A LICENSE_ERROR_MESSAGE PDU (preamble version 3) as either peer would send it."""
    return build_pdu(error_message(code, transition), 3, PreambleFlags(0))


def seeded_bytes(seed: int) -> Callable[[int], bytes]:
    """A deterministic ``random_bytes`` (the same seed gives the same stream)."""
    return random.Random(seed).randbytes


@dataclass(frozen=True)
class Keys:
    """A license server, a terminal server key and certificates, made from fixed seeds."""

    license_server: LicenseServerIdentity
    terminal_server_key: RsaPrivateKey
    x509_chain: bytes
    proprietary_key: RsaPrivateKey
    proprietary_certificate: bytes


def make_license_server(seed: int, name: str) -> LicenseServerIdentity:
    key = generate_rsa_key(512, seeded_bytes(seed))
    certificate = build_license_server_certificate(
        key, name=name, scope="WORKGROUP", created=T0 - 30 * DAY
    )
    return LicenseServerIdentity(
        name=name,
        scope="WORKGROUP",
        product_id="00429-00000-12345-AT678",
        private_key=key,
        certificate=certificate,
    )


def make_keys(seed: int = 100, name: str = "WIN-RDPLICTEST1") -> Keys:
    license_server = make_license_server(seed, name)
    ts_key = generate_rsa_key(512, seeded_bytes(seed + 1))
    ts_cert = build_terminal_server_certificate(
        license_server,
        ts_key.public,
        server_name=name,
        hwid=b"\x02\x00\x00\x00" + bytes(range(16)),
        issued=T0 - 30 * DAY,
    )
    proprietary_key = generate_rsa_key(512, seeded_bytes(seed + 2))
    return Keys(
        license_server=license_server,
        terminal_server_key=ts_key,
        x509_chain=build_x509_chain([license_server.certificate, ts_cert]),
        proprietary_key=proprietary_key,
        proprietary_certificate=build_proprietary_certificate(proprietary_key.public),
    )


Decide = Callable[[DecisionNeeded, datetime], Decision]
"""Who answers the server machine's questions in a session."""


def no_decisions(question: DecisionNeeded, now: datetime) -> Decision:
    raise AssertionError(f"nobody expected the server to ask {question.question}")


@dataclass
class Session:
    """One connection's outcome: both machines, their events, every PDU in order, and
    every question the server asked with the decision it got."""

    server: LicensingServer
    client: LicensingClient
    decide: Decide = no_decisions
    server_events: list[Event] = field(default_factory=list)
    client_events: list[Event] = field(default_factory=list)
    wire: list[tuple[str, bytes]] = field(default_factory=list)
    decisions: list[tuple[DecisionNeeded, Decision]] = field(default_factory=list)

    def server_event(self, kind: type) -> Event:
        """The one server event of type ``kind``."""
        found = [e for e in self.server_events if isinstance(e, kind)]
        assert len(found) == 1, (kind, self.server_events)
        return found[0]

    def client_event(self, kind: type) -> Event:
        found = [e for e in self.client_events if isinstance(e, kind)]
        assert len(found) == 1, (kind, self.client_events)
        return found[0]

    def message_types(self) -> list[str]:
        """bMsgType of every PDU in order, as ``"s2c:0x01"``."""
        return [f"{d}:0x{pdu[0]:02X}" for d, pdu in self.wire]


def deliver(
    machine: LicensingServer | LicensingClient, pdu: bytes, now: datetime, feed: Feed
) -> None:
    """Give ``pdu`` to ``machine``: whole, one byte at a time, or as one stream chunk."""
    if feed == "whole":
        machine.receive_pdu(pdu, now)
    elif feed == "bytes":
        for index in range(len(pdu)):
            machine.receive_data(pdu[index : index + 1], now)
    else:
        machine.receive_data(pdu, now)


def drain(machine: LicensingServer | LicensingClient) -> list[Event]:
    events = []
    while (event := machine.next_event()) is not None:
        events.append(event)
    return events


def answer_questions(session: Session, now: datetime) -> None:
    """Hand the server machine a decision for each question it asked, as a driver does."""
    server = session.server
    while True:
        events = drain(server)
        session.server_events += events
        asked = [e for e in events if isinstance(e, DecisionNeeded)]
        if not asked:
            return
        for question in asked:
            try:
                decision = session.decide(question, now)
            except Exception as error:  # what the network adapter does for a failed Deferred
                server.decision_failed(f"{type(error).__name__}: {error}", now)
                continue
            session.decisions.append((question, decision))
            server.decide(decision, now)


def pump(session: Session, now: datetime, feed: Feed = "whole") -> Session:
    """Move PDUs between the two machines until neither has anything to send."""
    server, client = session.server, session.client
    while True:
        answer_questions(session, now)
        to_client = server.data_to_send()
        to_server = client.data_to_send()
        if not to_client and not to_server:
            break
        for pdu in to_client:
            session.wire.append(("s2c", pdu))
            deliver(client, pdu, now, feed)
        for pdu in to_server:
            session.wire.append(("c2s", pdu))
            deliver(server, pdu, now, feed)
    answer_questions(session, now)
    session.client_events += drain(client)
    return session


@dataclass
class Device:
    """A simulated client device: its identity and the licenses it kept."""

    platform: str = "windows-10"
    machine_name: str = "PC1"
    user_name: str = "alice"
    hwid: bytes = b""
    store: MemoryLicenseStore = field(default_factory=MemoryLicenseStore)

    def __post_init__(self) -> None:
        if not self.hwid:
            self.hwid = hardware_id(CLIENT_PLATFORMS[self.platform], self.machine_name)

    def config(self, **changes: object) -> ClientConfig:
        base = ClientConfig(
            platform=CLIENT_PLATFORMS[self.platform],
            hwid=self.hwid,
            user_name=self.user_name,
            machine_name=self.machine_name,
            store=self.store,
        )
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


LabFactory = Callable[..., "Lab"]
"""The ``make_lab`` fixture: ``make_lab(**host_config)`` gives a fresh `Lab`."""


class Lab:
    """A licensing host: the license server's policy and administration over a SQLite
    store, and its server keys."""

    def __init__(self, path: Path, keys: Keys, *, seed: int = 7, **host: object) -> None:
        self.keys = keys
        path.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(path / "licenses.sqlite3")
        self.policy = LicensePolicy(
            self.store,
            CryptoLicenseSigner(keys.license_server),
            random.Random(seed),
            config=HostConfig(**host),  # type: ignore[arg-type]
        )
        self.admin = LicenseAdmin(self.store)
        self._seed = 1000

    def decide(self, question: DecisionNeeded, now: datetime | float) -> Decision:
        """The policy's answer, as the network adapter would hand it over."""
        return self.policy.decide(question, to_datetime(now)).decision

    def add_cals(self, count: int, now: datetime = T0) -> None:
        self.admin.add_key_pack(now, cal_type=CalType.PER_DEVICE, count=count)

    def server_config(self, **changes: object) -> ServerConfig:
        base = ServerConfig(
            private_key=self.keys.terminal_server_key,
            certificate=self.keys.x509_chain,
            license_issuer=self.keys.license_server.certificate,
        )
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def session(
        self,
        device: Device,
        *,
        server_seed: int | None = None,
        client_seed: int | None = None,
        server_config: ServerConfig | None = None,
        client_config: ClientConfig | None = None,
    ) -> Session:
        """A server and a client machine, not started."""
        self._seed += 2
        server = LicensingServer(
            server_config or self.server_config(),
            self.policy.host(),
            random_bytes=seeded_bytes(self._seed if server_seed is None else server_seed),
        )
        client = LicensingClient(
            client_config or device.config(),
            random_bytes=seeded_bytes(self._seed + 1 if client_seed is None else client_seed),
        )
        return Session(server, client, self.decide)

    def connect(
        self, device: Device, now: datetime = T0, feed: Feed = "whole", **kwargs: object
    ) -> Session:
        """Run one whole licensing exchange between ``device`` and this host."""
        session = self.session(device, **kwargs)  # type: ignore[arg-type]
        session.server.start(now)
        session.client.start(now)
        return pump(session, now, feed)

    def close(self) -> None:
        self.store.close()


def session_keys(server_key: RsaPrivateKey, request_pdu: bytes, client_pdu: bytes) -> LicensingKeys:
    """The licensing keys of a session, from its License Request and the client's answer.

    Tests use them to build messages a correct client would never send but whose
    MAC is right, to reach the checks that come after the MAC.
    """
    request = decode_licensing_pdu(request_pdu).message
    answer = decode_licensing_pdu(client_pdu).message
    assert isinstance(request, ServerLicenseRequest)
    assert isinstance(answer, ClientNewLicenseRequest | ClientLicenseInfo)
    premaster = decrypt_premaster(server_key, answer.encrypted_pre_master_secret.blob_data)
    return derive_licensing_keys(premaster, answer.client_random, request.server_random)
