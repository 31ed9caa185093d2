"""The transition tables, the generated diagrams, the error hierarchy and the framing helper."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

import pytest
from core_helpers import T0, Device, Lab, LabFactory, pump

from rdplic.core import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientState,
    InvalidMac,
    InvalidMessageLength,
    LocalProtocolError,
    PduFramer,
    ProtocolError,
    RemoteProtocolError,
    ServerState,
    UnexpectedMessage,
)
from rdplic.core._common import build_pdu, error_message, to_datetime, to_seconds
from rdplic.core.diagrams import render_markdown
from rdplic.core.states import CLIENT_TERMINAL_STATES, SERVER_TERMINAL_STATES, inputs_allowed
from rdplic.pdu.licensing import ErrorCode, PreambleFlags, StateTransition

ROOT = Path(__file__).resolve().parent.parent.parent

TABLES = [
    (SERVER_TRANSITIONS, ServerState.LICENSING_BEGIN, SERVER_TERMINAL_STATES, ServerState),
    (CLIENT_TRANSITIONS, ClientState.LICENSING_AWAIT, CLIENT_TERMINAL_STATES, ClientState),
]


def reachable(table: Mapping[tuple[Enum, Enum], Enum], start: Enum) -> set[Enum]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (origin, _), target in table.items():
            if origin == state and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.parametrize(("table", "initial", "terminal", "states"), TABLES)
def test_every_state_is_reachable_and_can_end(
    table: Mapping[tuple[Enum, Enum], Enum],
    initial: Enum,
    terminal: frozenset[Enum],
    states: type[Enum],
) -> None:
    """Each state is reachable from the start, and each leads to a terminal state."""
    assert reachable(table, initial) == set(states)
    for state in states:
        assert reachable(table, state) & terminal, state


@pytest.mark.parametrize(("table", "initial", "terminal", "states"), TABLES)
def test_terminal_states_have_no_way_out(
    table: Mapping[tuple[Enum, Enum], Enum],
    initial: Enum,
    terminal: frozenset[Enum],
    states: type[Enum],
) -> None:
    """COMPLETED and ABORTED accept nothing (MS-RDPELE 3.2.1.11, 3.3.1.11)."""
    for state in terminal:
        assert not inputs_allowed(table, state)  # type: ignore[arg-type]
    del initial, states


def test_waiting_states_can_abort_and_time_out() -> None:
    """Wherever a machine waits for its peer, it can abort and its timer can fire."""
    from rdplic.core import ClientInput, ServerInput

    for state in (ServerState.AWAIT_CLIENT_LICENSE, ServerState.AWAIT_CHALLENGE_RESPONSE):
        allowed = inputs_allowed(SERVER_TRANSITIONS, state)
        assert {ServerInput.SEND_ERROR_TOTAL_ABORT, ServerInput.TIMEOUT} <= allowed
    for client_state in (
        ClientState.LICENSING_AWAIT,
        ClientState.AWAIT_SERVER_REPLY,
        ClientState.AWAIT_LICENSE,
    ):
        allowed_client = inputs_allowed(CLIENT_TRANSITIONS, client_state)
        assert {ClientInput.DISCONNECT, ClientInput.TIMEOUT} <= allowed_client


def test_state_diagrams_are_generated_from_the_tables() -> None:
    """docs/state-diagrams.md is what scripts/make_state_diagrams.py writes (rerun it)."""
    page = (ROOT / "docs" / "state-diagrams.md").read_text(encoding="utf-8")
    assert page == render_markdown()
    for (origin, event), target in SERVER_TRANSITIONS.items():
        assert f"{origin.name} --> {target.name}" in page and event.name in page


def test_protocol_error_is_abstract_and_carries_wire_codes() -> None:
    """ProtocolError and RemoteProtocolError cannot be raised themselves; subclasses say who
    broke the protocol and what to send."""
    for abstract in (ProtocolError, RemoteProtocolError):
        with pytest.raises(TypeError):
            abstract("no")
    assert InvalidMac("x").error_code == ErrorCode.ERR_INVALID_MAC
    assert InvalidMessageLength("x").error_code == ErrorCode.ERR_INVALID_MESSAGE_LEN
    unexpected = UnexpectedMessage("x")
    assert (unexpected.error_code, unexpected.state_transition) == (
        ErrorCode.ERR_INVALID_CLIENT,
        StateTransition.ST_TOTAL_ABORT,
    )
    remote = LocalProtocolError("bad step")._to_remote()
    assert isinstance(remote, RemoteProtocolError) and remote.reason == "bad step"


def test_protocol_errors_pickle() -> None:
    """Errors survive pickling with their codes (for process pools and logs)."""
    error = InvalidMac("mac", state_transition=StateTransition.ST_TOTAL_ABORT)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidMac and copy.reason == "mac"
    assert copy.error_code == error.error_code and copy.state_transition == error.state_transition


def test_framer_splits_concatenated_and_fragmented_pdus() -> None:
    """PduFramer returns whole PDUs by wMsgSize, whatever the chunking."""
    one = bytes.fromhex("ff031000070000000200000004000000")
    two = bytes.fromhex("01030800aabbccdd")
    framer = PduFramer()
    assert framer.feed(one + two[:3]) == [one]
    assert framer.pending == 3
    assert framer.feed(two[3:] + one) == [two, one]
    assert framer.pending == 0
    pieces = [framer.feed(bytes([b])) for b in one + two]
    assert [p for chunk in pieces for p in chunk] == [one, two]


def test_machine_handles_two_pdus_in_one_chunk(lab: Lab) -> None:
    """Two licensing PDUs in one receive_data call are both handled, in order."""
    session = lab.session(Device())
    session.server.start(T0)
    session.client.start(T0)
    (request,) = session.server.data_to_send()
    harmless = build_pdu(
        error_message(ErrorCode.ERR_NO_LICENSE, StateTransition.ST_NO_TRANSITION),
        3,
        PreambleFlags(0),
    )
    session.client.receive_data(harmless + request, T0)
    assert session.client.state is ClientState.AWAIT_SERVER_REPLY
    pump(session, T0)
    assert session.server.state is ServerState.COMPLETED


def test_clock_values_may_be_seconds_or_datetimes(make_lab: LabFactory) -> None:
    """POSIX seconds and aware datetimes are the same clock: the bytes out do not change."""
    first, second = make_lab(), make_lab()
    by_datetime = first.connect(Device(), T0, server_seed=5, client_seed=6)
    by_seconds = second.connect(Device(), T0.timestamp(), server_seed=5, client_seed=6)  # type: ignore[arg-type]
    assert by_datetime.wire == by_seconds.wire
    assert by_datetime.server_events == by_seconds.server_events
    assert to_datetime(T0.timestamp()) == T0 and to_seconds(T0) == T0.timestamp()
