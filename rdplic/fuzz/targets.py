"""The fuzz targets: every decoder of `rdplic.pdu`, the crypto parsers, the machines.

A target is a function of one byte string that either returns, raises one of the errors its
code documents for bad input (`Target.expected`), or has found a bug.  Four kinds:

* ``decode:NAME`` / ``diff:NAME``: a decoder of `rdplic.pdu` on arbitrary bytes.  For a decoder
  with both engines (`rdplic.pdu._types.Engine`) the struct path and the construct reference
  must agree (the same value, or `PduError` on both); for every decoder with an encoder,
  decode-encode-decode must be stable (the second decode equals the first).  ``decode:``
  runs the default struct engine alone (the fast target; the generated struct code is
  instrumented explicitly by the runner, see `instrument_generated_code`), ``diff:`` both
  engines and the round trip; a decoder with one engine has only ``decode:``, round trip
  included.
* ``crypto:NAME``: `rdplic.crypto`'s license and certificate parsers; `CryptoError` (and its
  subclasses) is their documented error, and `validate_license` must never raise at all.
* ``machine:server`` / ``machine:client``: the sans-IO connection machines
  (`rdplic.core.connection_server` / `connection_client`, with their licensing machines)
  fed a legitimate conversation up to a state chosen by the input's first byte, then the
  rest of the input as the peer's bytes.  Their documented peer errors are
  `RemoteProtocolError` and its subclass `ConnectionProtocolError`.

* ``licensing:server`` / ``licensing:client``: the licensing machines alone
  (`rdplic.core.licensing_server` / `licensing_client`, no connection layers), fed
  licensing PDUs at every licensing state, decisions from a fixed decider
  (`rdplic.fuzz.licensing`); their documented peer error is `RemoteProtocolError`.

A disagreement or an unstable round trip raises `Finding` (an AssertionError), never one of
the documented errors, so that the runner records it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import random
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rdplic.core.errors import RemoteProtocolError
from rdplic.crypto.errors import CryptoError
from rdplic.pdu import certificates, finalization, framing, gcc, mcs, rdp
from rdplic.pdu import licensing as lic
from rdplic.pdu.errors import PduError

__all__ = ["DECODERS", "TARGETS", "Finding", "Target", "get_target", "has_engines"]


class Finding(AssertionError):
    """An input on which a harness's own check failed (engines disagree, unstable round trip)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One harness: ``run(data)`` and the exceptions that are a correct answer to bad input."""

    name: str
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...]
    layer: str
    """Which layer of the seed corpus (`rdplic.fuzz.seeds`) it starts from."""
    description: str


Decoder = Callable[..., Any]
Encoder = Callable[[Any], bytes]


def has_engines(decoder: Decoder) -> bool:
    """Whether ``decoder`` takes ``engine=`` (a struct path and a construct reference)."""
    return "engine" in inspect.signature(decoder).parameters


def _decode_header(data: bytes, *, engine: Any = "struct") -> Any:
    return rdp.decode_security_header(data, engine=engine)


def _decode_fips_header(data: bytes, *, engine: Any = "struct") -> Any:
    return rdp.decode_security_header(data, fips=True, engine=engine)


def _encode_header(value: tuple[Any, bytes]) -> bytes:
    header, body = value
    return rdp.encode_security_header(header) + body


def _encode_share_control(value: tuple[Any, bytes]) -> bytes:
    header, body = value
    return rdp.encode_share_control_header(header, body)


def _encode_tpkt_payload(payload: bytes) -> bytes:
    return framing.encode_tpkt(framing.Tpkt(payload))


def _encode_mcs_pdu(value: Any) -> bytes:
    if isinstance(value, mcs.McsConnectInitial):
        return mcs.encode_mcs_connect_initial(value)
    if isinstance(value, mcs.McsConnectResponse):
        return mcs.encode_mcs_connect_response(value)
    return mcs.encode_domain_pdu(value)


# name -> (decoder, encoder or None, seed layer)
DECODERS: dict[str, tuple[Decoder, Encoder | None, str]] = {
    "tpkt": (framing.decode_tpkt, framing.encode_tpkt, "frames"),
    "tpkt_payload": (framing.tpkt_payload, _encode_tpkt_payload, "frames"),
    "x224": (framing.decode_x224, framing.encode_x224, "tpdus"),
    "fast_path": (framing.decode_fast_path, framing.encode_fast_path, "frames"),
    "mcs_pdu": (mcs.decode_mcs_pdu, _encode_mcs_pdu, "mcs"),
    "mcs_domain_pdu": (mcs.decode_domain_pdu, mcs.encode_domain_pdu, "mcs"),
    "mcs_connect_initial": (
        mcs.decode_mcs_connect_initial,
        mcs.encode_mcs_connect_initial,
        "mcs",
    ),
    "mcs_connect_response": (
        mcs.decode_mcs_connect_response,
        mcs.encode_mcs_connect_response,
        "mcs",
    ),
    "gcc_conference_create_request": (
        gcc.decode_conference_create_request,
        gcc.encode_conference_create_request,
        "gcc",
    ),
    "gcc_conference_create_response": (
        gcc.decode_conference_create_response,
        gcc.encode_conference_create_response,
        "gcc",
    ),
    "gcc_client_blocks": (gcc.decode_client_blocks, gcc.encode_client_blocks, "blocks"),
    "gcc_server_blocks": (gcc.decode_server_blocks, gcc.encode_server_blocks, "blocks"),
    "security_header": (_decode_header, _encode_header, "secured"),
    "security_header_fips": (_decode_fips_header, _encode_header, "secured"),
    "security_exchange": (rdp.decode_security_exchange, rdp.encode_security_exchange, "rdp"),
    "client_info": (rdp.decode_client_info, rdp.encode_client_info, "rdp"),
    "set_error_info": (rdp.decode_set_error_info, rdp.encode_set_error_info, "rdp"),
    "share_control_header": (
        rdp.decode_share_control_header,
        _encode_share_control,
        "rdp",
    ),
    "share_data_pdu": (rdp.decode_share_data_pdu, rdp.encode_share_data_pdu, "rdp"),
    "demand_active": (rdp.decode_demand_active, rdp.encode_demand_active, "rdp"),
    "finalization_control": (finalization.decode_control, finalization.encode_control, "rdp"),
    "finalization_synchronize": (
        finalization.decode_synchronize,
        finalization.encode_synchronize,
        "rdp",
    ),
    "finalization_font_list": (finalization.decode_font_list, None, "rdp"),
    "server_certificate": (
        certificates.decode_server_certificate,
        certificates.encode_server_certificate,
        "certificates",
    ),
    "licensing_pdu": (lic.decode_licensing_pdu, lic.encode_licensing_pdu, "licensing"),
    "client_hardware_id": (
        lic.decode_client_hardware_id,
        lic.encode_client_hardware_id,
        "inner",
    ),
    "platform_challenge_response_data": (
        lic.decode_platform_challenge_response_data,
        lic.encode_platform_challenge_response_data,
        "inner",
    ),
    "new_license_info": (lic.decode_new_license_info, lic.encode_new_license_info, "inner"),
}
"""Every decoder of `rdplic.pdu`, with the encoder that undoes it (None: there is none) and
the layer of `rdplic.fuzz.seeds` it reads: the one list of decoders, which
tests/pdu/test_engines.py takes its two-engine decoders from (`has_engines`)."""


def _decode_one(decoder: Decoder, encoder: Encoder | None, data: bytes) -> None:
    """The default engine, then decode-encode-decode stability on what decodes (``encoder``
    None: checked by the decoder's ``diff:`` target instead, or it has no encoder)."""
    value = decoder(data)
    _round_trip(decoder, encoder, value, data)


def _decode_only(decoder: Decoder, data: bytes) -> None:
    """The default engine alone: the fast target of a two-engine decoder, whose ``diff:``
    target checks the engines and the round trip."""
    decoder(data)


def _round_trip(decoder: Decoder, encoder: Encoder | None, value: Any, data: bytes) -> None:
    if encoder is None:
        return
    try:
        again = encoder(value)
    except PduError:
        # An encoder may refuse a value that only a lenient decoder accepts (a count past
        # what its length field holds); that is documented, not a finding.
        return
    try:
        second = decoder(again)
    except PduError as error:
        raise Finding(f"re-encoded value does not decode: {error}") from error
    if second != value:
        raise Finding(f"decode-encode-decode unstable:\n  {value!r}\n  {second!r}")


def _decode_both(decoder: Decoder, encoder: Encoder | None, data: bytes) -> None:
    """Both engines must agree; then the round trip must be stable."""
    results: list[tuple[str, Any]] = []
    for engine in ("struct", "construct"):
        try:
            results.append(("value", decoder(data, engine=engine)))
        except PduError as error:
            results.append(("PduError", error))
    (struct_kind, struct_value), (construct_kind, construct_value) = results
    if struct_kind != construct_kind or (  # PduError messages may differ: not compared
        struct_kind == "value" and struct_value != construct_value
    ):
        raise Finding(
            "engines disagree:\n"
            f"  struct:    {struct_kind} {struct_value!r}\n"
            f"  construct: {construct_kind} {construct_value!r}"
        )
    if struct_kind == "PduError":
        raise struct_value
    _round_trip(decoder, encoder, struct_value, data)


def _decoder_targets() -> Iterable[Target]:
    for name, (decoder, encoder, layer) in DECODERS.items():
        both = has_engines(decoder)
        yield Target(
            f"decode:{name}",
            functools.partial(_decode_only, decoder)
            if both
            else functools.partial(_decode_one, decoder, encoder),
            (PduError,),
            layer,
            f"{getattr(decoder, '__name__', name)} (default engine)"
            + (", decode-encode-decode stable" if encoder and not both else ""),
        )
        if both:
            yield Target(
                f"diff:{name}",
                functools.partial(_decode_both, decoder, encoder),
                (PduError,),
                layer,
                "struct and construct engines agree"
                + (", decode-encode-decode stable" if encoder else ""),
            )


# --------------------------------------------------------------------------------------------
# rdplic.crypto


def _parse_license(data: bytes) -> None:
    from rdplic.crypto.license import parse_license

    parse_license(data)


def _validate_license(data: bytes) -> None:
    """`validate_license` answers MALFORMED for garbage and never raises (its contract)."""
    from rdplic.crypto.license import validate_license

    validate_license(data, _issuer_certificate())


@functools.cache
def _issuer_certificate() -> bytes:
    from rdplic.crypto import build_license_server_certificate, generate_rsa_key

    key = generate_rsa_key(512, random.Random(15).randbytes)
    return build_license_server_certificate(
        key, name="WIN-FUZZ", scope="WORKGROUP", created=datetime(2025, 1, 1, tzinfo=UTC)
    )


def _parse_certificate(data: bytes) -> None:
    from rdplic.crypto.x509 import parse_certificate

    parse_certificate(data)


def _server_certificate(data: bytes) -> None:
    from rdplic.crypto.x509 import public_key_from_server_certificate, verify_server_certificate

    public_key_from_server_certificate(data)
    verify_server_certificate(data)


def _proprietary_certificate(data: bytes) -> None:
    from rdplic.crypto.proprietary import verify_proprietary_certificate

    verify_proprietary_certificate(data)


def _x509_chain(data: bytes) -> None:
    from rdplic.crypto.x509 import verify_x509_chain

    verify_x509_chain(data)


def _crypto_targets() -> Iterable[Target]:
    yield Target(
        "crypto:parse_license",
        _parse_license,
        (CryptoError,),
        "licenses",
        "rdplic.crypto.parse_license (CAL bags, ours and Windows')",
    )
    yield Target(
        "crypto:validate_license",
        _validate_license,
        (),
        "licenses",
        "rdplic.crypto.validate_license never raises",
    )
    yield Target(
        "crypto:parse_certificate",
        _parse_certificate,
        (CryptoError,),
        "x509",
        "rdplic.crypto.x509.parse_certificate (one DER certificate)",
    )
    yield Target(
        "crypto:server_certificate",
        _server_certificate,
        (CryptoError,),
        "certificates",
        "public_key_from_server_certificate, verify_server_certificate",
    )
    yield Target(
        "crypto:proprietary_certificate",
        _proprietary_certificate,
        (CryptoError,),
        "certificates",
        "verify_proprietary_certificate",
    )
    yield Target(
        "crypto:x509_chain",
        _x509_chain,
        (CryptoError,),
        "certificates",
        "verify_x509_chain (the License Request's chain)",
    )


# --------------------------------------------------------------------------------------------
# The connection machines, at every state

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclasses.dataclass
class _Conversation:
    """A legitimate conversation between the two machines, recorded once per process.

    ``to_server`` / ``to_client`` are the byte chunks each machine received, in order; a
    harness replays the first ``k`` of them to reach the k-th state and then feeds the
    input.  The server side answers questions with the real policy over a SQLite store in a
    temporary directory (small keys: the protocol does not care).
    """

    security: str
    make_server: Callable[[], Any]
    make_client: Callable[[], Any]
    decide: Callable[[Any], Any]
    to_server: list[bytes]
    to_client: list[bytes]


def _drain(machine: Any) -> list[Any]:
    out = []
    while (event := machine.next_event()) is not None:
        out.append(event)
    return out


def _answer(decide: Callable[[Any], Any], machine: Any) -> None:
    from rdplic.core.events import DecisionNeeded

    while asked := [e for e in _drain(machine) if isinstance(e, DecisionNeeded)]:
        for question in asked:
            machine.decide(decide(question), NOW)


def scratch_server(prefix: str) -> tuple[Any, Any]:
    """A fuzzing process's server: small keys made from fixed seeds in a scratch state
    directory (removed when the process ends), so that every run records the same
    conversations; its store (close it once recorded) and `rdplic.app.build_server`'s app."""
    from rdplic.app import build_server
    from rdplic.identity import ServerIdentity
    from rdplic.store.sqlite import SqliteStore

    scratch = tempfile.TemporaryDirectory(prefix=prefix)
    _SCRATCH.append(scratch)
    state_dir = Path(scratch.name)
    ServerIdentity.load_or_create(
        state_dir,
        proprietary_key_bits=512,
        license_server_key_bits=1024,
        terminal_server_key_bits=512,
        random_bytes=random.Random(1).randbytes,
        now=NOW,
    )
    store = SqliteStore(state_dir / "store.db")
    app = build_server(
        state_dir, store=store, random_bytes=random.Random(3).randbytes, rng=random.Random(2)
    )
    return store, app


@functools.cache
def _conversation(security: str) -> _Conversation:
    from rdplic.app import build_client
    from rdplic.core.client_store import MemoryLicenseStore

    store, app = scratch_server("rdplic-fuzz-")

    def make_server() -> Any:
        # The same server random on every run, so that a replayed conversation decrypts.
        return dataclasses.replace(app, random_bytes=random.Random(3).randbytes).make_connection()

    decisions: dict[Any, Any] = {}

    def record(question: Any) -> Any:
        decision = app.policy.decide(question, NOW).decision
        decisions[question.question] = decision
        return decision

    def make_client() -> Any:
        return build_client(
            machine_name="FUZZCLIENT",
            user_name="fuzz",
            platform="freerdp",
            hwid=bytes(range(20)),
            store=MemoryLicenseStore(),
            security=security,  # type: ignore[arg-type]
            random_bytes=random.Random(4).randbytes,
        )

    server, client = make_server(), make_client()
    to_server: list[bytes] = []
    to_client: list[bytes] = []
    client.start()
    for _ in range(200):
        sent = client.data_to_send()
        if sent:
            to_server.append(sent)
            server.receive_data(sent, NOW)
        _answer(record, server)
        answer = server.data_to_send()
        if answer:
            to_client.append(answer)
            client.receive_data(answer, NOW)
        _drain(client)
        if server.awaiting_tls and client.awaiting_tls:
            server.tls_established(NOW)
            client.tls_established(NOW)
            continue
        if not sent and not answer:
            break
    store.close()

    def replay(question: Any) -> Any:
        # The recorded decision for this kind of question (else any recorded one): the
        # store is not touched while fuzzing (fast, and the same answer on every run).
        return decisions.get(question.question) or next(iter(decisions.values()))

    return _Conversation(security, make_server, make_client, replay, to_server, to_client)


_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []


def _feed(machine: Any, decide: Callable[[Any], Any] | None, data: bytes) -> None:
    machine.receive_data(data, NOW)
    if decide is not None:
        _answer(decide, machine)
    else:
        _drain(machine)
    machine.data_to_send()
    if machine.awaiting_tls:
        # As a driver does: what followed the switch goes to the TLS layer (here: nowhere),
        # then the handshake is done.
        machine.trailing_data  # noqa: B018
        machine.tls_established(NOW)


def _machine(side: str, security: str, data: bytes) -> None:
    """Replay the first ``data[0] % (n + 1)`` chunks the machine received in the recorded
    conversation, then feed it ``data[1:]`` (split at every 0xFF 0xFE 0xFD marker, so that
    the fuzzer can also send several chunks)."""
    conversation = _conversation(security)
    if side == "server":
        machine, decide, chunks = (
            conversation.make_server(),
            conversation.decide,
            conversation.to_server,
        )
    else:
        machine, decide, chunks = conversation.make_client(), None, conversation.to_client
        machine.start()
        machine.data_to_send()
    if not data:
        return
    for chunk in chunks[: data[0] % (len(chunks) + 1)]:
        _feed(machine, decide, chunk)
    for part in data[1:].split(b"\xff\xfe\xfd"):
        _feed(machine, decide, part)


def _machine_targets() -> Iterable[Target]:
    for side in ("server", "client"):
        for security in ("tls", "rdp"):
            yield Target(
                f"machine:{side}-{security}",
                functools.partial(_machine, side, security),
                (RemoteProtocolError,),
                "machine",
                f"the {side} connection machine (Standard RDP Security)"
                if security == "rdp"
                else f"the {side} connection machine (TLS: licensing PDUs in the clear)",
            )


def _licensing_targets() -> Iterable[Target]:
    from rdplic.fuzz import licensing

    yield Target(
        "licensing:server",
        licensing.run_server,
        (RemoteProtocolError,),
        "licensing-machine",
        "the licensing server machine alone (LicensingServer), at every licensing state,"
        " decisions from a fixed decider",
    )
    yield Target(
        "licensing:client",
        licensing.run_client,
        (RemoteProtocolError,),
        "licensing-machine",
        "the licensing client machine alone (LicensingClient), at every licensing state",
    )


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        *_decoder_targets(),
        *_crypto_targets(),
        *_machine_targets(),
        *_licensing_targets(),
    )
}
"""Every harness by name (`rdplic fuzz --list`)."""


def get_target(name: str) -> Target:
    """The target called ``name``; KeyError names the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown fuzz target {name!r} (rdplic fuzz --list names them)") from None
