"""Hostile mutations of licensing PDUs the server encrypts (Standard RDP Security, the client
announced SEC_LICENSE_ENCRYPT_SC as xfreerdp ``/sec:rdp`` and rdplic's client do).

The connection machine gets the connection's strategy (`HostileConnection.mutate_message`)
as an input and applies it to each licensing PDU before the security layer encrypts and
signs it; the client decrypts the lie with a valid MAC.  The server and client machines talk
in memory (the wiring of `rdplic.app`, a real SQLite store); under TLS the test applies
`HostileConnection.mutate` to the server's bytes as the adapter does.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rdplic.app import ServerApp, build_client, build_server
from rdplic.capture.decode import SessionKeys, decode_connection
from rdplic.capture.pcap import Chunk, Connection
from rdplic.core import events as lic
from rdplic.core.errors import ConnectionProtocolError
from rdplic.hostile import PROFILES, HostileConnection
from rdplic.hostile.wire import fields
from rdplic.identity import ServerIdentity
from rdplic.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An identity with small keys (the protocol does not care; the tests run faster)."""
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
    store = SqliteStore(tmp_path / "store.db")
    server = build_server(
        state_dir, store=store, random_bytes=random.Random(3).randbytes, rng=random.Random(2)
    )
    yield server
    store.close()


def _pair(app: ServerApp, hostile: HostileConnection | None, security: str) -> dict[str, Any]:
    """Run rdplic's client against the hostile server machine until both are quiet: the
    chunks each sent, the client's events and the protocol error it raised (if any)."""
    server = app.make_connection(hostile)
    client = build_client(
        machine_name="HOSTILE",
        user_name="tester",
        security=security,  # type: ignore[arg-type]
        random_bytes=random.Random(4).randbytes,
    )
    chunks: list[Chunk] = []
    events: list[object] = []
    error = ""
    client.start()
    for _ in range(100):
        to_server = client.data_to_send()
        if to_server:
            chunks.append(Chunk(len(chunks) + 1, True, to_server))
            with contextlib.suppress(ConnectionProtocolError):
                server.receive_data(to_server, NOW)
        while (event := server.next_event()) is not None:
            if isinstance(event, lic.DecisionNeeded):
                server.decide(app.policy.decide(event, NOW).decision, NOW)
        to_client = server.data_to_send()
        if to_client and hostile is not None and security == "tls":
            to_client = hostile.mutate(to_client)  # the adapter's part, before TLS
        if to_client:
            chunks.append(Chunk(len(chunks) + 1, False, to_client))
            try:
                client.receive_data(to_client, NOW)
            except ConnectionProtocolError as raised:
                error = error or raised.reason
        while (event := client.next_event()) is not None:
            events.append(event)
        if server.awaiting_tls and client.awaiting_tls:
            server.tls_established(NOW)
            client.tls_established(NOW)
            continue
        if not to_server and not to_client:
            break
    return {"chunks": chunks, "events": events, "error": error}


def test_the_client_decrypts_the_lie(app: ServerApp) -> None:
    """cve-2014-0791 under SEC_ENCRYPT: the client's parser meets the lying ScopeCount in
    the decrypted License Request, whose security-layer MAC is valid."""
    hostile = HostileConnection(PROFILES["cve-2014-0791"], 7, 0)
    run = _pair(app, hostile, "rdp")
    assert hostile.session.mutations == ["ScopeCount->0x20000001"]
    assert "ScopeArray" in run["error"] and str(0x20000001) in run["error"]
    identity = app.identity
    keys = SessionKeys(identity.proprietary_key, (identity.proprietary_key,))
    frames = decode_connection(Connection(1, ("c", 1), ("s", 2), chunks=run["chunks"]), keys)
    licensing = [
        f for f in frames if not f.from_client and any(x["layer"] == "licensing" for x in f.layers)
    ]
    layers = {x["layer"]: x for x in licensing[0].layers}
    # SEC_ENCRYPT: the machine mutated it, not the adapter (which cannot see inside)
    assert layers["security"]["fields"]["flags"]["value"] & 0x0008
    assert layers["security"]["decrypted"]["MAC"]["valid"]
    message = bytes.fromhex(layers["licensing"]["payload"])
    assert [f.value for f in fields(message) if f.name == "ScopeCount"] == [0x20000001]


@pytest.mark.parametrize(
    "profile", ["cve-2014-0791", "cve-2017-2839", "wrong-mac", "blob-larger", "repeat"]
)
def test_same_lies_under_encryption_as_under_tls(app: ServerApp, profile: str) -> None:
    """A profile and seed make the same mutations of the licensing PDUs whether the server
    encrypts them (the machine mutates) or TLS carries them (the adapter mutates)."""
    said = []
    for security in ("rdp", "tls"):
        hostile = HostileConnection(PROFILES[profile], 11, 0)
        _pair(app, hostile, security)
        said.append(hostile.session.mutations)
    assert said[0] == said[1] and said[0]


def test_never_sent_under_encryption(app: ServerApp) -> None:
    """never-sent drops the encrypted Platform Challenge: the client never answers it and
    licensing does not end (the security layer's RC4 stream stays in step)."""
    hostile = HostileConnection(PROFILES["never-sent"], 0, 0)
    run = _pair(app, hostile, "rdp")
    assert hostile.session.mutations == ["message 0x02 never sent"]
    assert not run["error"]
    assert not [e for e in run["events"] if isinstance(e, lic.NewLicenseReceived)]


def test_honest_server_unchanged(app: ServerApp) -> None:
    """Without a strategy the machine licenses the client under SEC_ENCRYPT as before."""
    run = _pair(app, None, "rdp")
    assert not run["error"]
    assert [e for e in run["events"] if isinstance(e, lic.NewLicenseReceived)]
