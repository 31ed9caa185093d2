"""The server and client connection machines talking to each other in memory.

Both run the whole connection sequence of MS-RDPBCGR up to the end of licensing, with the
real licensing machines, license server policy and SQLite store, built by the wiring module
(`rdplic.app`); the bytes are moved by hand, and the server's questions answered by the
policy (TLS, when selected, is the transport's business and is left out here).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdplic.app import ServerApp, build_client, build_server
from rdplic.core import events as lic
from rdplic.core.client_store import MemoryLicenseStore
from rdplic.core.connection_client import ClientConnection
from rdplic.core.connection_common import send_data_frame
from rdplic.core.connection_events import (
    CapabilitiesConfirmed,
    ClientDataReceived,
    ClientInfoReceived,
    ConnectionEnded,
    ErrorInfoReceived,
    SecurityNegotiated,
)
from rdplic.core.connection_server import SERVER_TRANSITIONS, ServerConnection, ServerPhase
from rdplic.core.errors import ConnectionProtocolError
from rdplic.crypto.rdp_security import EncryptionMethod
from rdplic.identity import ServerIdentity
from rdplic.licensing import CalType
from rdplic.pdu.finalization import ShareDataPdu, encode_share_data_pdu
from rdplic.pdu.framing import Protocol
from rdplic.pdu.mcs import MCS_GLOBAL_CHANNEL
from rdplic.pdu.rdp import PduType, PduType2, ShareControlHeader, encode_share_control_header
from rdplic.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory whose identity has small keys: the protocol does not care, the
    tests run faster."""
    path = tmp_path_factory.mktemp("identity")
    ServerIdentity.load_or_create(
        path,
        proprietary_key_bits=512,
        license_server_key_bits=1024,
        terminal_server_key_bits=512,
        random_bytes=random.Random(1).randbytes,
        now=NOW,
    )
    return path


@pytest.fixture
def app(tmp_path: Path, state_dir: Path) -> Iterator[ServerApp]:
    """A server over that identity with a fresh store of its own."""
    store = SqliteStore(tmp_path / "store.db")
    server = build_server(
        state_dir, store=store, random_bytes=random.Random(3).randbytes, rng=random.Random(2)
    )
    yield server
    store.close()


def make_server(app: ServerApp, **options: object) -> ServerConnection:
    config = dataclasses.replace(app.connection_config, **options)  # type: ignore[arg-type]
    return dataclasses.replace(app, connection_config=config).make_connection()


_SECURITY = {None: "rdp-legacy", 0: "rdp", 1: "tls"}


def make_client(
    store: MemoryLicenseStore, *, requested: int | None = 0, methods: int = 0x0B
) -> ClientConnection:
    return build_client(
        machine_name="PAIRCLIENT",
        user_name="tester",
        platform="freerdp",
        hwid=bytes(range(20)),
        store=store,
        security=_SECURITY[requested],  # type: ignore[arg-type]
        encryption_methods=methods,
        random_bytes=random.Random(4).randbytes,
    )


def drain(machine: ServerConnection | ClientConnection) -> list[object]:
    out = []
    while (event := machine.next_event()) is not None:
        out.append(event)
    return out


def run_pair(
    app: ServerApp,
    server: ServerConnection,
    client: ClientConnection,
    *,
    now: datetime = NOW,
    byte_by_byte: bool = False,
) -> tuple[list[object], list[object]]:
    """Move bytes both ways until neither side has anything to send; the server's questions
    are answered by ``app``'s policy."""
    server_events: list[object] = []
    client_events: list[object] = []
    client.start()
    for _ in range(200):
        to_server = client.data_to_send()
        if to_server:
            chunks = (
                [to_server[i : i + 1] for i in range(len(to_server))]
                if byte_by_byte
                else [to_server]
            )
            for chunk in chunks:
                server.receive_data(chunk, now)
        while asked := [e for e in drain(server) if not _record(server_events, e)]:
            for question in asked:
                server.decide(app.policy.decide(question, now).decision, now)  # type: ignore[arg-type]
        to_client = server.data_to_send()
        if to_client:
            client.receive_data(to_client, now)
        client_events += drain(client)
        if server.awaiting_tls and client.awaiting_tls:
            # The TLS handshake, which a driver runs (the bytes in memory are TLS plaintext).
            assert server.trailing_data == b"" and client.trailing_data == b""
            server.tls_established(now)
            client.tls_established(now)
            continue
        if not to_server and not to_client:
            break
    return server_events, client_events


def _record(events: list[object], event: object) -> bool:
    """Keep ``event``; False for a question the driver must answer."""
    events.append(event)
    return not isinstance(event, lic.DecisionNeeded)


def _of(events: list[object], kind: type) -> list[object]:
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize(
    ("requested", "selected"),
    [(None, Protocol.PROTOCOL_RDP), (0, Protocol.PROTOCOL_RDP), (1, Protocol.PROTOCOL_SSL)],
)
def test_first_connection_gets_a_temporary_license(
    app: ServerApp, requested: int | None, selected: int
) -> None:
    """Standard RDP Security (with and without RDP_NEG_REQ) and TLS all end in a stored
    temporary license, Set Error Info and a disconnect."""
    store = MemoryLicenseStore()
    server_events, client_events = run_pair(
        app, make_server(app), make_client(store, requested=requested)
    )
    negotiated = _of(server_events, SecurityNegotiated)
    assert len(negotiated) == 1 and negotiated[0].selected_protocol == selected
    assert negotiated[0].start_tls == (selected == Protocol.PROTOCOL_SSL)
    (client_data,) = _of(server_events, ClientDataReceived)
    assert client_data.client_name == "PAIRCLIENT"
    (info,) = _of(server_events, ClientInfoReceived)
    assert info.user_name == "tester"
    (issued,) = _of(server_events, lic.NewLicenseIssued)
    assert issued.license.temporary
    assert _of(client_events, lic.NewLicenseReceived)
    assert len(store) == 1
    assert [e.error_info for e in _of(client_events, ErrorInfoReceived)] == [7]
    (ended,) = _of(server_events, ConnectionEnded)
    assert ended.licensed and ended.error_info == 7
    (client_ended,) = _of(client_events, ConnectionEnded)
    assert client_ended.licensed


@pytest.mark.parametrize(
    ("offered", "method"),
    [
        (0x01, EncryptionMethod.BIT_40),
        (0x08, EncryptionMethod.BIT_56),
        (0x03, EncryptionMethod.BIT_128),
    ],
)
def test_every_rc4_strength(app: ServerApp, offered: int, method: EncryptionMethod) -> None:
    """The server picks the strongest method offered and licensing works encrypted with it."""
    store = MemoryLicenseStore()
    server_events, _ = run_pair(app, make_server(app), make_client(store, methods=offered))
    (client_data,) = _of(server_events, ClientDataReceived)
    assert client_data.encryption_method == method
    assert _of(server_events, lic.NewLicenseIssued) and len(store) == 1


def test_byte_by_byte(app: ServerApp) -> None:
    """Frames split anywhere are reassembled before decoding (architecture invariant 3)."""
    store = MemoryLicenseStore()
    server_events, _ = run_pair(app, make_server(app), make_client(store), byte_by_byte=True)
    assert _of(server_events, lic.NewLicenseIssued)


def test_upgrade_then_valid_client(app: ServerApp) -> None:
    """With CALs installed the presented temporary license is upgraded, then accepted."""
    app.admin.add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=5)
    store = MemoryLicenseStore()
    run_pair(app, make_server(app), make_client(store))
    server_events, _ = run_pair(app, make_server(app), make_client(store))
    (upgraded,) = _of(server_events, lic.LicenseUpgraded)
    assert not upgraded.license.temporary
    server_events, _ = run_pair(app, make_server(app), make_client(store))
    assert _of(server_events, lic.ValidClient)


def test_refusal_sends_error_info_before_the_licensing_error(app: ServerApp) -> None:
    """91 days after its temporary license, a device without CAL is refused:
    Set Error Info ERRINFO_LICENSE_NO_LICENSE first, then the licensing error, then DPU."""
    store = MemoryLicenseStore()
    run_pair(app, make_server(app), make_client(store))
    later = NOW + timedelta(days=91)
    server_events, client_events = run_pair(app, make_server(app), make_client(store), now=later)
    (failed,) = _of(server_events, lic.LicensingFailed)
    assert failed.origin is lic.FailureOrigin.REFUSED
    assert [e.error_info for e in _of(client_events, ErrorInfoReceived)] == [0x102]
    (ended,) = _of(server_events, ConnectionEnded)
    assert not ended.licensed and ended.error_info == 0x102


def test_negotiation_failure_ends_the_connection(app: ServerApp) -> None:
    """A TLS-only server answers a client without RDP_NEG_REQ with RDP_NEG_FAILURE."""
    server = make_server(app, allow_rdp_security=False)
    server_events, client_events = run_pair(
        app, server, make_client(MemoryLicenseStore(), requested=None)
    )
    (ended,) = _of(server_events, ConnectionEnded)
    assert "SSL_REQUIRED_BY_SERVER" in ended.reason
    assert server.phase is ServerPhase.CLOSED
    assert "negotiation failed" in _of(client_events, ConnectionEnded)[0].reason


def test_demand_active_then_finalization(app: ServerApp) -> None:
    """With demand_active the server sends a Demand Active, waits for Confirm Active and the
    client's Font List, answers with its finalization PDUs and only then disconnects."""
    server = make_server(app, demand_active=True)
    client = make_client(MemoryLicenseStore(), requested=1)
    server_events, client_events = run_pair(app, server, client)
    assert server.phase is ServerPhase.AWAIT_CONFIRM_ACTIVE
    assert "Demand Active" in _of(client_events, ConnectionEnded)[0].reason
    user = 1008  # four static channels (1004-1007) then the user channel
    confirm = encode_share_control_header(
        ShareControlHeader(PduType.PDUTYPE_CONFIRMACTIVEPDU, user), bytes(20)
    )
    server.receive_data(send_data_frame(user, MCS_GLOBAL_CHANNEL, confirm, server=False), NOW)
    assert any(isinstance(e, CapabilitiesConfirmed) for e in drain(server))
    assert server.data_to_send()  # Synchronize, Control Cooperate, Control Granted
    font_list = encode_share_data_pdu(
        ShareDataPdu(PduType2.PDUTYPE2_FONTLIST, bytes(8), pdu_source=user)
    )
    server.receive_data(send_data_frame(user, MCS_GLOBAL_CHANNEL, font_list, server=False), NOW)
    (ended,) = _of(drain(server), ConnectionEnded)
    assert ended.licensed
    assert server.phase is ServerPhase.CLOSED
    del server_events


def test_transition_table_is_closed() -> None:
    """Every phase but CLOSED can be left by a disconnect; CLOSED has no way out."""
    for phase in ServerPhase:
        has_disconnect = any(p is phase for p, _ in SERVER_TRANSITIONS)
        assert has_disconnect == (phase is not ServerPhase.CLOSED)


def test_pdu_out_of_sequence_names_phase_and_input(app: ServerApp) -> None:
    """An MCS Attach User Request before the Connect Initial is refused by the table."""
    server = make_server(app)
    client = make_client(MemoryLicenseStore())
    client.start()
    server.receive_data(client.data_to_send(), NOW)
    attach = bytes.fromhex("0300000802f08028")
    with pytest.raises(ConnectionProtocolError, match="MCS Connect Initial"):
        server.receive_data(attach, NOW)
    assert server.phase is ServerPhase.CLOSED


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_garbage_ends_in_a_protocol_error_only(app: ServerApp, data: bytes) -> None:
    """Any bytes end in ConnectionProtocolError or in waiting for more, never another error."""
    server = make_server(app)
    try:
        server.receive_data(data, NOW)
    except ConnectionProtocolError:
        assert server.phase is ServerPhase.CLOSED
