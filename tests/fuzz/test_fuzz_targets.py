"""The fuzz harnesses of rdplic.fuzz: targets, seeds, minimiser, the CLI, and every harness run
briefly under atheris (bounded in count and time, two at a time)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
from pathlib import Path

import pytest

from rdplic.cli.main import main
from rdplic.core.events import DecisionNeeded
from rdplic.core.states import ClientState, ServerState
from rdplic.fuzz import licensing as licensing_harness
from rdplic.fuzz import runner, seeds
from rdplic.fuzz.targets import TARGETS, Finding, Target, get_target
from rdplic.pdu import licensing
from rdplic.pdu.errors import PduError

SEEDS = seeds.load_seeds()


def test_every_decoder_kind_is_covered() -> None:
    """Every decoder of rdplic.pdu has a target, every two-engine decoder a differential one,
    and the crypto parsers and both machines (both security layers) have theirs."""
    names = set(TARGETS)
    for layer_name in ("licensing_pdu", "client_hardware_id", "new_license_info", "tpkt", "x224"):
        assert {f"decode:{layer_name}", f"diff:{layer_name}"} <= names
    assert {"decode:server_certificate", "decode:client_info", "diff:client_info"} <= names
    assert {"crypto:parse_license", "crypto:validate_license", "crypto:x509_chain"} <= names
    assert {f"machine:{s}-{sec}" for s in ("server", "client") for sec in ("tls", "rdp")} <= names
    assert {"licensing:server", "licensing:client"} <= names


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_handled(name: str) -> None:
    """Each target's seeds decode or fail with the documented error (no finding), and every
    layer a target reads has seeds."""
    target = TARGETS[name]
    inputs = SEEDS[target.layer]
    assert inputs, target.layer
    for data in inputs[:40]:
        assert runner.failure_signature(target, data) is None, data.hex()


def test_differential_target_reports_a_disagreement() -> None:
    """A decoder whose engines disagree is a Finding, not a PduError."""

    def lying(data: bytes, *, engine: str = "struct") -> object:
        if engine == "construct":
            raise PduError("X", "construct refuses")
        return licensing.decode_client_hardware_id(data)

    from rdplic.fuzz.targets import _decode_both

    data = bytes(20)
    with pytest.raises(Finding, match="engines disagree"):
        _decode_both(lying, None, data)


def test_minimise_keeps_the_failure_and_shrinks() -> None:
    """The minimiser shrinks an input to the few bytes that still fail the same way."""

    def run(data: bytes) -> None:
        if b"\x13\x37" in data:
            raise IndexError("planted")
        raise PduError("X", "not it")

    target = Target("test:planted", run, (PduError,), "rdp", "planted bug")
    big = bytes(range(200)) + b"\x13\x37" + bytes(100)
    small = runner.minimise(target, big, budget=20)
    assert small == b"\x13\x37"
    assert runner.failure_signature(target, small) == runner.failure_signature(target, big)


def test_fuzz_list_names_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    """`rdplic fuzz --list` prints one line per target."""
    assert main(["fuzz", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(TARGETS)


def test_fuzz_unknown_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown target: one line on stderr and exit status 2."""
    assert main(["fuzz", "decode:nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown fuzz target" in err


def test_get_target_names_the_problem() -> None:
    """get_target of an unknown name raises KeyError pointing at --list."""
    with pytest.raises(KeyError, match="--list"):
        get_target("nope")


def test_licensing_harnesses_reach_every_state() -> None:
    """The replays of the licensing targets put each machine in every state where it reads
    a licensing PDU or waits for a decision (MS-RDPELE 3.2.1.11, 3.3.1.11), the Completed
    state included, before the input is fed."""
    recorded = licensing_harness.conversations()
    server_states, client_states = set(), set()
    longest = max(len(c.to_client) for c in recorded)
    for first in range(len(recorded) * (longest + 1)):
        for flags in (0x00, licensing_harness.HOLD_DECISION):
            server_states.add(licensing_harness.replayed_server(first, flags)[0].state)
        client_states.add(licensing_harness.replayed_client(first).state)
    S, C = ServerState, ClientState
    assert server_states >= {
        S.AWAIT_CLIENT_LICENSE,
        S.LICENSE_PRESENTED,
        S.AWAIT_CHALLENGE_RESPONSE,
        S.CHALLENGE_ANSWERED,
        S.COMPLETED,
    }
    assert client_states >= {C.LICENSING_AWAIT, C.AWAIT_SERVER_REPLY, C.AWAIT_LICENSE, C.COMPLETED}
    assert [c.name for c in recorded] == ["new", "returning", "proprietary"]


@pytest.mark.parametrize("choice", range(len(licensing_harness.DECIDER())))
def test_licensing_server_takes_every_decider_answer(choice: int) -> None:
    """Every answer of the fixed decider, given where the server waits for one (after the
    challenge response, after a presented license), ends in a state of the table or the
    documented RemoteProtocolError, never another exception."""
    target = TARGETS["licensing:server"]
    count = len(licensing_harness.conversations())
    for first in (0 + count * 2, 1 + count * 1, 1 + count * 2, 2 + count * 2):
        server, _ = licensing_harness.replayed_server(first, 0, choice)
        assert not server.awaiting_decision
        assert runner.failure_signature(target, bytes([first, 0, choice])) is None


def test_licensing_fix_size_flag_writes_wmsgsize() -> None:
    """With flag bit 1 a part's wMsgSize is its length, so mutations reach the message."""
    assert licensing_harness._parts(b"\x03\x83\x00\x00xyz", licensing_harness.FIX_SIZE) == [
        b"\x03\x83\x07\x00xyz"
    ]
    assert licensing_harness._parts(b"ab\xff\xfe\xfdcd", licensing_harness.STREAM) == [b"abcd"]


def test_licensing_seal_undoes_unseal_on_the_recordings() -> None:
    """Sealing the decrypted form of each recorded PDU with the exchange's keys gives the
    recorded bytes back (the same RC4 and MACData as the real machines)."""
    harness = licensing_harness
    count = len(harness.conversations())
    sealed = 0
    for number, conversation in enumerate(harness.conversations()):
        for position, pdu in enumerate(conversation.to_client):
            keys = harness.replayed_client(number + count * position)._exchange.keys
            if keys is not None:
                assert harness.seal(harness.unseal(pdu, keys), keys) == pdu
                sealed += pdu != harness.unseal(pdu, keys)
        for position, pdu in enumerate(conversation.to_server[1:], start=1):
            keys = harness.replayed_server(number + count * position, 0)[0]._exchange.keys
            assert harness.seal(harness.unseal(pdu, keys), keys) == pdu
            sealed += pdu != harness.unseal(pdu, keys)
    assert sealed >= 6  # challenges, licenses and challenge responses of the three


def test_licensing_sealed_input_reaches_past_the_mac() -> None:
    """With the seal flag, a Platform Challenge Response whose plaintext hardware id the
    input changed passes the MAC check: the server asks its decision about that id."""
    harness = licensing_harness
    count = len(harness.conversations())
    first = 0 + count * 1  # "new", after the New License Request
    server, conversation = harness.replayed_server(first, 0)
    keys = server._exchange.keys
    plain = harness.unseal(conversation.to_server[1], keys)
    pdu = licensing.decode_licensing_pdu(plain)
    hwid = pdu.message.encrypted_hwid.blob_data
    changed = hwid[:8] + bytes(reversed(hwid[8:]))
    message = dataclasses.replace(
        pdu.message,
        encrypted_hwid=dataclasses.replace(pdu.message.encrypted_hwid, blob_data=changed),
    )
    fuzzed = licensing.encode_licensing_pdu(dataclasses.replace(pdu, message=message))
    server.receive_pdu(harness.seal(fuzzed, keys), harness.NOW)
    asked = [e for e in harness._drain(server) if isinstance(e, DecisionNeeded)]
    assert [e.client.hwid for e in asked] == [changed]
    target = TARGETS["licensing:server"]
    assert runner.failure_signature(target, bytes([first, harness.SEAL, 0]) + fuzzed) is None


def _fuzz_briefly(name: str, root: Path) -> tuple[str, runner.FuzzRun]:
    findings = root / name.replace(":", "-")
    result = runner.run(
        name,
        seconds=1,
        runs=3000,
        corpus=None,
        seeds=SEEDS,
        findings=findings,
        minimise_budget=10,
    )
    return name, result


def test_every_harness_runs_under_atheris(tmp_path: Path) -> None:
    """Every harness runs under atheris for at most 3000 inputs or 1 second and finds
    nothing (a finding is fixed and added to tests/regressions before it lands)."""
    pytest.importorskip("atheris")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: _fuzz_briefly(name, tmp_path), TARGETS))
    problems = {
        name: [p.read_text() if p.suffix == ".txt" else p.name for p in r.findings]
        for name, r in results
        if r.findings or r.returncode != 0
    }
    assert not problems, problems
    assert all("cov:" in r.status for _, r in results), [n for n, r in results if not r.status]


def test_fuzz_command_runs_a_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rdplic fuzz TARGET --time 1s --json`: runs atheris, prints libFuzzer's status with its
    coverage, no findings, exit 0; the corpus folder keeps the seeds and what it found."""
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    status = main(
        [
            "fuzz",
            "decode:licensing_pdu",
            "--time",
            "1s",
            "--json",
            "--corpus",
            str(corpus),
            "--findings",
            str(tmp_path / "findings"),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert status == 0, out
    assert out["target"] == "decode:licensing_pdu" and out["findings"] == []
    assert "cov:" in out["status"]
    assert len(list(corpus.iterdir())) >= len(SEEDS["licensing"])
