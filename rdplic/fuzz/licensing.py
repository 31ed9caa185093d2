"""Harnesses on the licensing machines themselves, without the connection layers.

``licensing:server`` and ``licensing:client`` feed arbitrary licensing PDU bytes to
`rdplic.core.licensing_server.LicensingServer` and `rdplic.core.licensing_client.
LicensingClient` at every licensing state (MS-RDPELE 3.2, 3.3), so that the fuzzer spends
its time in the licensing logic rather than in TPKT, MCS and the security layer (the
``machine:`` targets fuzz those).  The states are reached as the ``machine:`` targets do:
by replaying a recorded legitimate conversation first.

Three conversations are recorded once per process (small keys: the protocol does not care),
between the real machines, the server's questions answered by the real policy over a SQLite
store in a temporary directory:

* ``new``: a client with no license (License Request with the X.509 chain, New License
  Request, Platform Challenge, Platform Challenge Response, New License);
* ``returning``: the same client again with the license it was given (License Info, then
  whatever the policy answers);
* ``proprietary``: ``new`` with the proprietary certificate in the License Request.

The input: byte 0 picks the conversation (``% 3``) and how many of the PDUs the machine
received in it are replayed (``// 3 % (n + 1)``); byte 1 is flags (below); byte 2 picks the
fixed decider's answer (`DECIDER`, modulo its length) to every question the input raises: the
decision the policy made in the recording, each decision kind, a decision that does not
answer the question, or the license server failing (decisions are inputs,
rdplic/core/decisions.py: the fuzzer chooses them as it chooses bytes); the rest is split at
every ``ff fe fd`` into the PDUs fed next.  Flags: bit 0 holds a decision the last replayed
PDU asked for (the server then gets the input while it waits: LICENSE_PRESENTED,
CHALLENGE_ANSWERED), bit 1 writes each part's length into its wMsgSize (so that mutations
reach the message instead of the size check), bit 2 feeds the parts as one stream through
``receive_data`` (the wMsgSize framer) instead of ``receive_pdu``, bit 3 fires the machine's
timer after the input, bit 4 seals each part (`seal`): its encrypted blobs are taken as
plaintext, encrypted with the exchange's keys and MACed, as the real peer would, so that
mutations of what is inside them get past the MAC check into the licensing logic.

A machine's documented error for a peer's bad input is `RemoteProtocolError` (and its
subclasses); the harness stops at the first one, as a driver closes the connection.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DECIDER",
    "NOW",
    "conversations",
    "replayed_client",
    "replayed_server",
    "run_client",
    "run_server",
    "seal",
    "seeds",
    "unseal",
]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
MARKER = b"\xff\xfe\xfd"

HOLD_DECISION = 0x01
FIX_SIZE = 0x02
STREAM = 0x04
TIMER = 0x08
SEAL = 0x10
HEADER = 3


@dataclasses.dataclass
class Conversation:
    """One recorded legitimate licensing exchange.

    ``to_server`` / ``to_client``: the licensing PDUs each machine received, in order;
    ``decisions``: the policy's answer to each question kind asked in it.
    """

    name: str
    make_server: Callable[[], Any]
    make_client: Callable[[], Any]
    to_server: list[bytes]
    to_client: list[bytes]
    decisions: dict[Any, Any]


def _drain(machine: Any) -> list[Any]:
    out = []
    while (event := machine.next_event()) is not None:
        out.append(event)
    return out


def _play(server: Any, client: Any, decide: Callable[[Any], Any]) -> tuple[list[bytes], ...]:
    """Run ``server`` and ``client`` against each other to the end; what each received."""
    from rdplic.core.events import DecisionNeeded

    to_server: list[bytes] = []
    to_client: list[bytes] = []
    server.start(NOW)
    client.start(NOW)
    for _ in range(20):
        answers = server.data_to_send()
        for pdu in answers:
            to_client.append(pdu)
            client.receive_pdu(pdu, NOW)
        _drain(client)
        requests = client.data_to_send()
        for pdu in requests:
            to_server.append(pdu)
            server.receive_pdu(pdu, NOW)
            for event in _drain(server):
                if isinstance(event, DecisionNeeded):
                    server.decide(decide(event), NOW)
        if not answers and not requests:
            break
    return to_server, to_client


@functools.cache
def conversations() -> tuple[Conversation, ...]:
    """The three recorded conversations (made once per process)."""
    from rdplic.core.client_store import MemoryLicenseStore
    from rdplic.core.licensing_client import ClientConfig, LicensingClient
    from rdplic.core.platforms import CLIENT_PLATFORMS
    from rdplic.fuzz.targets import scratch_server

    store, app = scratch_server("rdplic-fuzz-licensing-")
    x509_config = app.licensing_config
    proprietary_config = dataclasses.replace(
        x509_config,
        private_key=app.identity.proprietary_key,
        certificate=app.identity.proprietary_certificate,
    )
    host = app.host_licensing()

    def server_maker(config: Any) -> Callable[[], Any]:
        from rdplic.core.licensing_server import LicensingServer

        def make() -> Any:
            # The same server random every time, so that a replayed exchange decrypts.
            return LicensingServer(
                config,
                host,
                random_bytes=random.Random(5).randbytes,
                client_user_name="fuzz",
                client_machine_name="FUZZCLIENT",
            )

        return make

    platform = CLIENT_PLATFORMS["freerdp"]

    def client_maker(stored: dict[Any, bytes]) -> Callable[..., Any]:
        def make(store: Any = None) -> Any:
            config = ClientConfig(
                platform=platform,
                hwid=bytes(range(20)),
                user_name="fuzz",
                machine_name="FUZZCLIENT",
                store=store if store is not None else MemoryLicenseStore(stored),
            )
            return LicensingClient(config, random_bytes=random.Random(4).randbytes)

        return make

    given = MemoryLicenseStore()  # the license the new client is given, kept for "returning"
    recorded: list[Conversation] = []
    for name in ("new", "returning"):
        decisions: dict[Any, Any] = {}

        def decide(event: Any, decisions: dict[Any, Any] = decisions) -> Any:
            decision = app.policy.decide(event, NOW).decision
            decisions[event.question] = decision
            return decision

        make_server, make_client = server_maker(x509_config), client_maker(dict(given.licenses))
        to_server, to_client = _play(make_server(), make_client(given), decide)
        recorded.append(
            Conversation(name, make_server, make_client, to_server, to_client, decisions)
        )
    new = recorded[0]
    make_server, make_client = server_maker(proprietary_config), client_maker({})
    to_server, to_client = _play(make_server(), make_client(), lambda e: new.decisions[e.question])
    recorded.append(
        Conversation("proprietary", make_server, make_client, to_server, to_client, new.decisions)
    )
    store.close()
    return tuple(recorded)


def _menu() -> list[Any]:
    """The decider's answers (`DECIDER`); None stands for the recorded decision, "fail"
    for `decision_failed`."""
    from rdplic.core.decisions import Decision, DecisionKind, LicenseSummary
    from rdplic.pdu.licensing import ErrorCode, StateTransition

    issued = next(
        (
            d
            for c in conversations()
            for d in c.decisions.values()
            if d.kind is DecisionKind.ISSUE_NEW
        ),
        None,
    )
    summary = issued.license if issued else LicenseSummary(1, False, None, 0x00010002)
    blob = issued.blob if issued else b"\x30\x00"
    return [
        None,
        Decision(DecisionKind.VALID_CLIENT, "fuzz"),
        Decision(DecisionKind.PLATFORM_CHALLENGE, "fuzz"),
        Decision(
            DecisionKind.REFUSE,
            "fuzz",
            error_code=ErrorCode.ERR_NO_LICENSE,
            state_transition=StateTransition.ST_TOTAL_ABORT,
            error_info=0x0000100B,
        ),
        Decision(DecisionKind.ISSUE_NEW, "fuzz", license=summary, blob=blob),
        Decision(DecisionKind.UPGRADE, "fuzz", license=summary, blob=blob),
        Decision(DecisionKind.UPGRADE_WITH_OLD, "fuzz"),
        "fail",
        Decision(DecisionKind.ISSUE_NEW, "fuzz (no license described)"),
        Decision(
            DecisionKind.REFUSE,
            "fuzz",
            error_code=ErrorCode.ERR_INVALID_CLIENT,
            state_transition=StateTransition.ST_RESET_PHASE_TO_START,
        ),
        Decision(
            DecisionKind.REFUSE,
            "fuzz",
            error_code=0xDEAD,
            state_transition=StateTransition.ST_RESEND_LAST_MESSAGE,
        ),
    ]


DECIDER: Callable[[], list[Any]] = functools.cache(_menu)
"""The fixed decider's answers, indexed by the input's byte 2 (modulo their number)."""


def _answer(server: Any, conversation: Conversation, choice: int | None) -> None:
    """Drain the server's events, answering each question: with the recorded decision
    (``choice`` None) or the decider's answer number ``choice``."""
    from rdplic.core.events import DecisionNeeded

    for event in _drain(server):
        if not isinstance(event, DecisionNeeded):
            continue
        answer = None if choice is None else DECIDER()[choice % len(DECIDER())]
        if answer == "fail":
            server.decision_failed("the fuzzer's license server failed", NOW)
            continue
        if answer is None:
            recorded = conversation.decisions
            answer = recorded.get(event.question) or next(iter(recorded.values()))
        server.decide(answer, NOW)


def seal(part: bytes, keys: Any) -> bytes:
    """``part`` with the blobs a licensing message carries encrypted (MS-RDPELE 5.1.3) taken
    as plaintext: encrypted with ``keys`` (`rdplic.crypto.licensing.LicensingKeys`) and MACed
    (5.1.5), as the peer who holds the keys would send them.  A part that does not decode as
    a licensing PDU, or has no encrypted blob, is returned as it is."""
    from rdplic.crypto.licensing import mac_data, rc4
    from rdplic.pdu.errors import PduError
    from rdplic.pdu.licensing import (
        ClientLicenseInfo,
        ClientPlatformChallengeResponse,
        ServerNewLicense,
        ServerPlatformChallenge,
        ServerUpgradeLicense,
        decode_licensing_pdu,
        encode_licensing_pdu,
    )

    try:
        pdu = decode_licensing_pdu(part)
    except PduError:
        return part
    message = pdu.message
    key = keys.licensing_encryption_key

    def encrypted(blob: Any) -> Any:
        return dataclasses.replace(blob, blob_data=rc4(key, blob.blob_data))

    if isinstance(message, ClientLicenseInfo):
        plain = message.encrypted_hwid.blob_data
        message = dataclasses.replace(
            message,
            encrypted_hwid=encrypted(message.encrypted_hwid),
            mac_data=mac_data(keys.mac_salt_key, plain),
        )
    elif isinstance(message, ClientPlatformChallengeResponse):
        response = message.encrypted_platform_challenge_response
        plain = response.blob_data + message.encrypted_hwid.blob_data
        message = dataclasses.replace(
            message,
            encrypted_platform_challenge_response=encrypted(response),
            encrypted_hwid=encrypted(message.encrypted_hwid),
            mac_data=mac_data(keys.mac_salt_key, plain),
        )
    elif isinstance(message, ServerPlatformChallenge):
        challenge = message.encrypted_platform_challenge
        message = dataclasses.replace(
            message,
            encrypted_platform_challenge=encrypted(challenge),
            mac_data=mac_data(keys.mac_salt_key, challenge.blob_data),
        )
    elif isinstance(message, ServerNewLicense | ServerUpgradeLicense):
        info = message.encrypted_license_info
        message = dataclasses.replace(
            message,
            encrypted_license_info=encrypted(info),
            mac_data=mac_data(keys.mac_salt_key, info.blob_data),
        )
    else:
        return part
    try:
        return encode_licensing_pdu(dataclasses.replace(pdu, message=message, msg_size=None))
    except PduError:
        return part


def unseal(part: bytes, keys: Any) -> bytes:
    """The inverse of `seal` on a PDU of a recorded conversation (for seeds): its encrypted
    blobs decrypted (RC4 is its own inverse; the MAC is `seal`'s to write)."""
    from rdplic.crypto.licensing import rc4
    from rdplic.pdu.licensing import decode_licensing_pdu, encode_licensing_pdu

    pdu = decode_licensing_pdu(part)
    message = pdu.message
    changes = {
        name: dataclasses.replace(
            blob, blob_data=rc4(keys.licensing_encryption_key, blob.blob_data)
        )
        for name in (
            "encrypted_hwid",
            "encrypted_platform_challenge_response",
            "encrypted_platform_challenge",
            "encrypted_license_info",
        )
        if (blob := getattr(message, name, None)) is not None
    }
    if not changes:
        return part
    message = dataclasses.replace(message, **changes)
    return encode_licensing_pdu(dataclasses.replace(pdu, message=message, msg_size=None))


def exchange_keys(machine: Any) -> Any:
    """The licensing keys ``machine`` derived in this exchange, or None before the key
    exchange.  Read from the machine's private state: the harness plays the peer, which
    holds the same keys, and the machines have no reason to publish them."""
    return machine._exchange.keys


@functools.cache
def first_keys(number: int) -> Any:
    """The keys the server derives from the first PDU of conversation ``number`` (its New
    License Request or License Info): those a sealed input fed right after the License
    Request is sealed with, so that a License Info whose ClientRandom and premaster the
    fuzzer kept gets its hardware id past the MAC check."""
    server, _ = replayed_server(number + len(conversations()), HOLD_DECISION)
    return exchange_keys(server)


def _parts(payload: bytes, flags: int, keys: Any = None) -> list[bytes]:
    parts = payload.split(MARKER)
    if flags & SEAL and keys is not None:
        parts = [seal(part, keys) for part in parts]
    if flags & FIX_SIZE:
        parts = [
            part[:2] + len(part).to_bytes(2, "little") + part[4:] if len(part) >= 4 else part
            for part in parts
        ]
    if flags & STREAM:
        return [b"".join(parts)]
    return parts


def replayed_server(first: int, flags: int, choice: int = 0) -> tuple[Any, Conversation]:
    """The server machine after the replay that input bytes ``first``, ``flags`` and the
    decider's ``choice`` ask for."""
    recorded = conversations()
    conversation = recorded[first % len(recorded)]
    chunks = conversation.to_server
    replayed = chunks[: first // len(recorded) % (len(chunks) + 1)]
    server = conversation.make_server()
    server.start(NOW)
    server.data_to_send()
    for index, chunk in enumerate(replayed):
        server.receive_pdu(chunk, NOW)
        if index < len(replayed) - 1:
            _answer(server, conversation, None)
        elif not flags & HOLD_DECISION:
            _answer(server, conversation, choice)
        server.data_to_send()
    return server, conversation


def replayed_client(first: int) -> Any:
    """The client machine after the replay that input byte ``first`` asks for."""
    recorded = conversations()
    conversation = recorded[first % len(recorded)]
    chunks = conversation.to_client
    client = conversation.make_client()
    client.start(NOW)
    for chunk in chunks[: first // len(recorded) % (len(chunks) + 1)]:
        client.receive_pdu(chunk, NOW)
        _drain(client)
        client.data_to_send()
    return client


def run_server(data: bytes) -> None:
    """The ``licensing:server`` harness (see the module docstring for the input)."""
    if len(data) < HEADER:
        return
    flags, choice = data[1], data[2]
    server, conversation = replayed_server(data[0], flags, choice)
    keys = exchange_keys(server) if flags & SEAL else None
    if flags & SEAL and keys is None:
        keys = first_keys(data[0] % len(conversations()))
    for part in _parts(data[HEADER:], flags, keys):
        if flags & STREAM:
            server.receive_data(part, NOW)
        else:
            server.receive_pdu(part, NOW)
        _answer(server, conversation, choice)
        server.data_to_send()
    if flags & TIMER:
        server.handle_timer(LATER)
        _drain(server)


def run_client(data: bytes) -> None:
    """The ``licensing:client`` harness (see the module docstring for the input)."""
    if len(data) < HEADER:
        return
    flags = data[1]
    client = replayed_client(data[0])
    keys = exchange_keys(client) if flags & SEAL else None
    for part in _parts(data[HEADER:], flags, keys):
        if flags & STREAM:
            client.receive_data(part, NOW)
        else:
            client.receive_pdu(part, NOW)
        _drain(client)
        client.data_to_send()
    if flags & TIMER:
        client.handle_timer(LATER)
        _drain(client)


_SEED_FLAGS = ((0, 0), (HOLD_DECISION, 0), (FIX_SIZE, 3), (STREAM | TIMER, 7))


def seeds() -> list[bytes]:
    """Seeds of both targets: every replay position of every conversation with several
    flags and decider answers, followed by the rest of the recording (or its next PDU); and
    each PDU that carries encrypted blobs as plaintext with the seal flag."""
    out: list[bytes] = []
    recorded = conversations()
    for number, conversation in enumerate(recorded):
        for side, chunks in (
            ("server", conversation.to_server),
            ("client", conversation.to_client),
        ):
            for position in range(len(chunks) + 1):
                first = number + len(recorded) * position
                rest = chunks[position:]
                for flags, choice in (
                    (0, 0),
                    (HOLD_DECISION, 0),
                    (FIX_SIZE, 3),
                    (STREAM | TIMER, 7),
                ):
                    out.append(bytes([first, flags, choice]) + (rest[0] if rest else b""))
                    out.append(bytes([first, flags, choice]) + MARKER.join(rest))
                if not rest:
                    continue
                machine = (
                    replayed_server(first, 0)[0] if side == "server" else replayed_client(first)
                )
                keys = exchange_keys(machine)
                if keys is None and side == "server":
                    keys = first_keys(number)
                if keys is not None:
                    out.append(bytes([first, SEAL, 0]) + unseal(rest[0], keys))
    return list(dict.fromkeys(out))
