"""Property tests: whatever the peer sends, a machine ends in a legal state or a licensing error.

After h2's state-machine tests and h11's fuzzing invariant: sequences of
inputs drawn from real messages (recorded from two-party sessions with fixed
seeds, so that a fresh machine with the same seed accepts them again),
mutated messages, and random bytes, delivered whole or as a stream, with the
timer firing in between.  Every call either returns or raises
`RemoteProtocolError`; after an error the machine is terminal and refuses
more input the same way; nothing else (KeyError, PduError, CryptoError...)
ever escapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from core_helpers import DAY, T0, Device, Keys, Lab, drain, error_pdu, seeded_bytes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rdplic.core import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientInput,
    ClientState,
    DecisionNeeded,
    Event,
    LicensingClient,
    LicensingFailed,
    LicensingServer,
    LocalProtocolError,
    RemoteProtocolError,
    ServerInput,
    ServerState,
)
from rdplic.core._common import to_datetime
from rdplic.core.states import transition
from rdplic.pdu.licensing import ErrorCode, StateTransition

SERVER_SEED = 501
CLIENT_SEED = 502


@dataclass(frozen=True)
class Corpus:
    """Messages recorded from real sessions, replayable against machines with the same seeds."""

    lab: Lab
    device: Device
    to_server: tuple[bytes, ...]
    to_client: tuple[bytes, ...]
    server_scripts: tuple[tuple[bytes, ...], ...]
    """What the client sent in each recorded session, in order."""
    client_scripts: tuple[tuple[bytes, ...], ...]
    """What the server sent in each recorded session, in order."""


def error_pdus() -> list[bytes]:
    pdus = []
    for code in (ErrorCode.STATUS_VALID_CLIENT, ErrorCode.ERR_INVALID_MAC, 0x1234):
        for move in (*StateTransition, 7):
            pdus.append(error_pdu(code, move))
    return pdus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Corpus]:
    lab = Lab(Path(tmp_path_factory.mktemp("corpus")), keys)
    lab.add_cals(100)
    device = Device()
    to_server: list[bytes] = []
    to_client: list[bytes] = []
    sessions = [
        lab.connect(device, server_seed=SERVER_SEED, client_seed=CLIENT_SEED),
        lab.connect(device, T0 + DAY, server_seed=SERVER_SEED, client_seed=CLIENT_SEED),
        lab.connect(device, T0 + 2 * DAY, server_seed=SERVER_SEED, client_seed=CLIENT_SEED),
        lab.connect(
            Device(platform="rdesktop", machine_name="tux"),
            server_seed=SERVER_SEED,
            client_seed=CLIENT_SEED,
        ),
    ]
    for session in sessions:
        to_server += [pdu for d, pdu in session.wire if d == "c2s"]
        to_client += [pdu for d, pdu in session.wire if d == "s2c"]
    yield Corpus(
        lab,
        device,
        tuple(dict.fromkeys(to_server + error_pdus())),
        tuple(dict.fromkeys(to_client + error_pdus())),
        tuple(tuple(pdu for d, pdu in s.wire if d == "c2s") for s in sessions),
        tuple(tuple(pdu for d, pdu in s.wire if d == "s2c") for s in sessions),
    )
    lab.close()


def mutated(messages: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    """A recorded message with one byte changed, cut short, or extended."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        pdu = draw(st.sampled_from(messages))
        how = draw(st.sampled_from(["flip", "cut", "extend", "resize"]))
        if how == "flip":
            index = draw(st.integers(0, len(pdu) - 1))
            return pdu[:index] + bytes([pdu[index] ^ draw(st.integers(1, 255))]) + pdu[index + 1 :]
        if how == "cut":
            return pdu[: draw(st.integers(0, len(pdu) - 1))]
        if how == "extend":
            return pdu + draw(st.binary(min_size=1, max_size=8))
        cut = pdu[: draw(st.integers(4, len(pdu)))]
        return cut[:2] + len(cut).to_bytes(2, "little") + cut[4:]  # consistent wMsgSize

    return build()


Step = tuple[str, bytes, int]


def inputs(
    messages: tuple[bytes, ...], scripts: tuple[tuple[bytes, ...], ...]
) -> st.SearchStrategy[list[Step]]:
    """A prefix of a recorded session (to reach the deeper states), then up to six
    steps: (how to deliver, the bytes, seconds elapsed before it)."""
    payload = st.one_of(
        st.sampled_from(messages),
        st.sampled_from(messages),
        mutated(messages),
        st.binary(max_size=40),
    )
    step = st.tuples(st.sampled_from(["pdu", "stream", "timer"]), payload, st.integers(0, 400))

    @st.composite
    def build(draw: st.DrawFn) -> list[Step]:
        script = draw(st.sampled_from(scripts))
        prefix = [("pdu", pdu, 0) for pdu in script[: draw(st.integers(0, len(script)))]]
        return prefix + draw(st.lists(step, max_size=6))

    return build()


def drive(
    machine: LicensingServer | LicensingClient, steps: list[Step], lab: Lab | None = None
) -> None:
    """Apply ``steps``; check the invariant after each.  The server's questions are answered
    by ``lab``'s policy, as the network adapter would, so sequences go past them."""
    terminal = {ServerState.COMPLETED, ServerState.ABORTED, ClientState.COMPLETED}
    terminal.add(ClientState.ABORTED)
    now = T0.timestamp()
    for how, data, elapsed in steps:
        now += elapsed
        was_terminal = machine.state in terminal
        try:
            if how == "timer":
                machine.handle_timer(now)
            elif how == "pdu":
                machine.receive_pdu(data, now)
            else:
                machine.receive_data(data, now)
        except RemoteProtocolError:
            assert machine.state in terminal
        else:
            assert not was_terminal or how == "timer"  # a terminal machine refuses input
        assert isinstance(machine.state, ServerState | ClientState)
        for pdu in machine.data_to_send():
            assert 4 <= len(pdu) <= 0xFFFF and int.from_bytes(pdu[2:4], "little") == len(pdu)
        events: list[Event] = drain(machine)
        asked = [e for e in events if isinstance(e, DecisionNeeded)]
        if asked and lab is not None:
            assert isinstance(machine, LicensingServer) and len(asked) == 1
            machine.decide(lab.decide(asked[0], to_datetime(now)), now)
            events += drain(machine)
            machine.data_to_send()
        failures = [e for e in events if isinstance(e, LicensingFailed)]
        assert len(failures) <= 1
        if failures:
            assert machine.state in terminal
    event(f"ended in {machine.state.value}")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_server_survives_any_input_sequence(corpus: Corpus, data: st.DataObject) -> None:
    """Any client input sequence leaves the server in a legal state or raises a licensing error."""
    steps = data.draw(inputs(corpus.to_server, corpus.server_scripts))
    server = LicensingServer(
        corpus.lab.server_config(), corpus.lab.policy.host(), random_bytes=seeded_bytes(SERVER_SEED)
    )
    server.start(T0)
    server.data_to_send()
    drive(server, steps, corpus.lab)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_client_survives_any_input_sequence(corpus: Corpus, data: st.DataObject) -> None:
    """Any server input sequence leaves the client in a legal state or raises a licensing error."""
    steps = data.draw(inputs(corpus.to_client, corpus.client_scripts))
    platform = data.draw(st.sampled_from(["windows-10", "rdesktop", "freerdp"]))
    device = Device(platform=platform, machine_name=corpus.device.machine_name)
    if data.draw(st.booleans()):
        device.store.licenses.update(corpus.device.store.licenses)
    client = LicensingClient(device.config(), random_bytes=seeded_bytes(CLIENT_SEED))
    client.start(T0)
    drive(client, steps)


@pytest.mark.parametrize(
    ("table", "states", "inputs"),
    [
        (SERVER_TRANSITIONS, ServerState, ServerInput),
        (CLIENT_TRANSITIONS, ClientState, ClientInput),
    ],
    ids=["server", "client"],
)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_table_gives_a_state_or_a_protocol_error(
    table: Mapping[tuple[Any, Any], Any],
    states: type[Enum],
    inputs: type[Enum],
    data: st.DataObject,
) -> None:
    """transition() over any (state, input) pair: a state of the role, or LocalProtocolError."""
    state = data.draw(st.sampled_from(list(states)))
    event = data.draw(st.sampled_from(list(inputs)))
    try:
        assert isinstance(transition(table, state, event), states)
    except LocalProtocolError as error:
        assert state.value in str(error) and event.value in str(error)


def test_recorded_sessions_replay_against_fresh_machines(corpus: Corpus) -> None:
    """The corpus is sound: a fresh server with the recorded seed accepts a recorded request."""
    server = LicensingServer(
        corpus.lab.server_config(), corpus.lab.policy.host(), random_bytes=seeded_bytes(SERVER_SEED)
    )
    server.start(T0)
    server.data_to_send()
    server.receive_pdu(corpus.to_server[0], T0)
    assert server.state is ServerState.AWAIT_CHALLENGE_RESPONSE
