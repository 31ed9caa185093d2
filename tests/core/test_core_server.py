"""The server machine on its own: error paths, timers, restarts, tolerance, determinism."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from core_helpers import (
    DAY,
    T0,
    Device,
    Lab,
    LabFactory,
    Session,
    drain,
    error_pdu,
    pump,
    seeded_bytes,
    session_keys,
)

from rdplic.core import (
    CLIENT_PLATFORMS,
    WINDOWS_PLATFORM_CHALLENGE,
    ClientQuirks,
    ClientState,
    Decision,
    DecisionKind,
    DecisionNeeded,
    FailureOrigin,
    InvalidMac,
    InvalidMessageLength,
    LicenseKey,
    LicensePresented,
    LicensingFailed,
    LicensingRestarted,
    LicensingServer,
    LocalProtocolError,
    MalformedMessage,
    NewLicenseIssued,
    PlatformChallengeAnswered,
    Question,
    RemoteProtocolError,
    ServerState,
    UnexpectedMessage,
    ValidClient,
)
from rdplic.core._common import build_pdu
from rdplic.crypto import issue_license, mac_data, rc4
from rdplic.crypto.license import LicenseFields
from rdplic.licensing import RefusalStyle
from rdplic.pdu.licensing import (
    BlobType,
    ClientNewLicenseRequest,
    ClientPlatformChallengeResponse,
    ErrorCode,
    LicenseBinaryBlob,
    LicenseErrorMessage,
    MsgType,
    PlatformChallengeResponseData,
    PreambleFlags,
    StateTransition,
    decode_licensing_pdu,
    encode_platform_challenge_response_data,
)
from rdplic.pdu.rdp import ErrorInfo

WINDOWS_2019_KEY = LicenseKey(0x000A0001, "microsoft.com", "Microsoft Corporation", "A02")


def error_of(pdu: bytes) -> tuple[int, int]:
    """(dwErrorCode, dwStateTransition) of a LICENSE_ERROR_MESSAGE PDU."""
    message = decode_licensing_pdu(pdu).message
    assert isinstance(message, LicenseErrorMessage)
    return int(message.error_code), int(message.state_transition)


def started(lab: Lab, device: Device | None = None, **config: object) -> Session:
    """A session whose server has queued its License Request (not yet delivered)."""
    session = lab.session(device or Device(), server_config=lab.server_config(**config))
    session.server.start(T0)
    session.client.start(T0)
    return session


def first_client_pdu(session: Session) -> bytes:
    """Deliver the License Request to the client; return the client's answer, undelivered."""
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    (answer,) = session.client.data_to_send()
    return answer


def to_challenge_response(session: Session) -> bytes:
    """Run to the client's Platform Challenge Response; return it, undelivered."""
    session.server.receive_pdu(first_client_pdu(session), T0)
    (challenge,) = session.server.data_to_send()
    session.client.receive_pdu(challenge, T0)
    (response,) = session.client.data_to_send()
    return response


def flip(pdu: bytes, offset: int) -> bytes:
    return pdu[:offset] + bytes([pdu[offset] ^ 0x01]) + pdu[offset + 1 :]


def assert_aborted_with(session: Session, code: int, error: type[RemoteProtocolError]) -> None:
    """The server queued ``code`` / ST_TOTAL_ABORT, is ABORTED, and reported it."""
    (pdu,) = session.server.data_to_send()
    assert error_of(pdu) == (code, StateTransition.ST_TOTAL_ABORT)
    assert session.server.state is ServerState.ABORTED
    failed = [e for e in drain(session.server) if isinstance(e, LicensingFailed)]
    assert len(failed) == 1 and failed[0].origin is FailureOrigin.PROTOCOL
    assert failed[0].error_code == code and failed[0].error_sent
    del error


# -- 3.2.5.8 and 3.2.5.9: errors the server answers --------------------------------------


def test_out_of_sequence_message_gets_err_invalid_client(lab: Lab) -> None:
    """A Platform Challenge Response before any request: ERR_INVALID_CLIENT / ST_TOTAL_ABORT."""
    session = started(lab)
    response = to_challenge_response(session)
    fresh = started(lab)
    fresh.server.data_to_send()
    with pytest.raises(UnexpectedMessage):
        fresh.server.receive_pdu(response, T0)
    assert_aborted_with(fresh, ErrorCode.ERR_INVALID_CLIENT, UnexpectedMessage)


def test_server_message_from_the_client_gets_err_invalid_client(lab: Lab) -> None:
    """A bMsgType only a server sends (here a License Request) is unexpected (3.2.5.8)."""
    session = started(lab)
    (request,) = session.server.data_to_send()
    with pytest.raises(UnexpectedMessage, match="server message"):
        session.server.receive_pdu(request, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, UnexpectedMessage)


def test_malformed_message_gets_err_invalid_client(lab: Lab) -> None:
    """A New License Request cut short (wMsgSize fixed up) is malformed (3.2.5.8)."""
    session = started(lab)
    request = first_client_pdu(session)
    cut = request[:40]
    cut = cut[:2] + len(cut).to_bytes(2, "little") + cut[4:]
    with pytest.raises(MalformedMessage):
        session.server.receive_pdu(cut, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_unknown_message_type_gets_err_invalid_client(lab: Lab) -> None:
    """An undefined bMsgType is malformed."""
    session = started(lab)
    session.server.data_to_send()
    with pytest.raises(MalformedMessage):
        session.server.receive_pdu(bytes.fromhex("7703080000000000"), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


@pytest.mark.parametrize("delta", [-1, 1, 4])
def test_inconsistent_wmsgsize_gets_err_invalid_message_len(lab: Lab, delta: int) -> None:
    """wMsgSize other than the PDU's length: ERR_INVALID_MESSAGE_LEN / ST_TOTAL_ABORT."""
    session = started(lab)
    request = first_client_pdu(session)
    size = len(request) + delta
    with pytest.raises(InvalidMessageLength):
        session.server.receive_pdu(request[:2] + size.to_bytes(2, "little") + request[4:], T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MESSAGE_LEN, InvalidMessageLength)


def test_too_short_pdu_gets_err_invalid_message_len(lab: Lab) -> None:
    """Fewer bytes than a LICENSE_PREAMBLE cannot carry a wMsgSize that matches."""
    session = started(lab)
    session.server.data_to_send()
    with pytest.raises(InvalidMessageLength):
        session.server.receive_pdu(b"\x13\x03", T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MESSAGE_LEN, InvalidMessageLength)


def test_framed_wmsgsize_below_the_preamble_gets_err_invalid_message_len(lab: Lab) -> None:
    """In a stream, a wMsgSize below 4 cannot frame anything."""
    session = started(lab)
    session.server.data_to_send()
    with pytest.raises(InvalidMessageLength):
        session.server.receive_data(b"\x13\x03\x02\x00", T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MESSAGE_LEN, InvalidMessageLength)


def test_license_info_with_bad_mac_gets_err_invalid_mac(lab: Lab) -> None:
    """A License Info whose MACData does not match the HWID: ERR_INVALID_MAC (3.2.5.9)."""
    device = Device()
    lab.connect(device)
    session = started(lab, device)
    info = first_client_pdu(session)
    assert info[0] == MsgType.LICENSE_INFO
    with pytest.raises(InvalidMac):
        session.server.receive_pdu(flip(info, len(info) - 1), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MAC, InvalidMac)


def test_license_info_with_altered_hwid_gets_err_invalid_mac(lab: Lab) -> None:
    """Changing the encrypted HWID breaks the MAC over its plaintext."""
    device = Device()
    lab.connect(device)
    session = started(lab, device)
    info = first_client_pdu(session)
    with pytest.raises(InvalidMac):
        session.server.receive_pdu(flip(info, len(info) - 17), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MAC, InvalidMac)


def test_challenge_response_with_bad_mac_gets_err_invalid_mac(lab: Lab) -> None:
    """A Platform Challenge Response whose MAC is wrong: ERR_INVALID_MAC / ST_TOTAL_ABORT."""
    session = started(lab)
    response = to_challenge_response(session)
    with pytest.raises(InvalidMac):
        session.server.receive_pdu(flip(response, len(response) - 3), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_MAC, InvalidMac)


def test_response_that_does_not_echo_the_challenge_is_refused(lab: Lab) -> None:
    """PLATFORM_CHALLENGE_RESPONSE_DATA must carry the challenge back (3.2.5.5)."""
    careless = dataclasses.replace(
        CLIENT_PLATFORMS["windows-10"], quirks=ClientQuirks(skip_mac_checks=True)
    )
    device = Device()
    session = lab.session(device, client_config=device.config(platform=careless))
    session.server.start(T0)
    session.client.start(T0)
    session.server.receive_pdu(first_client_pdu(session), T0)
    (challenge,) = session.server.data_to_send()
    # One encrypted challenge byte flipped: the client answers a challenge never sent.
    client = session.client
    client.receive_pdu(flip(challenge, 12), T0)
    (response,) = client.data_to_send()
    with pytest.raises(MalformedMessage, match="echo"):
        session.server.receive_pdu(response, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_bad_premaster_secret_gets_err_invalid_client(lab: Lab) -> None:
    """An EncryptedPreMasterSecret of the wrong size cannot be decrypted: ERR_INVALID_CLIENT."""
    session = started(lab)
    request = decode_licensing_pdu(first_client_pdu(session))
    message = request.message
    blob = dataclasses.replace(message.encrypted_pre_master_secret, blob_data=b"\x01" * 30)  # type: ignore[union-attr]
    bad = dataclasses.replace(message, encrypted_pre_master_secret=blob)  # type: ignore[type-var]
    data = build_pdu(bad, 3, PreambleFlags.EXTENDED_ERROR_MSG_SUPPORTED)
    with pytest.raises(MalformedMessage, match="EncryptedPreMasterSecret"):
        session.server.receive_pdu(data, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_nothing_is_accepted_after_the_exchange_ended(lab: Lab) -> None:
    """A terminal machine refuses more input without queueing anything."""
    session = lab.connect(Device())
    assert session.server.state is ServerState.COMPLETED
    with pytest.raises(UnexpectedMessage):
        session.server.receive_pdu(session.wire[1][1], T0)
    with pytest.raises(UnexpectedMessage):
        session.server.receive_data(b"\x00", T0)
    assert session.server.data_to_send() == []
    assert session.server.state is ServerState.COMPLETED


def test_driving_errors_are_local(lab: Lab) -> None:
    """Receiving before start(), or starting twice, is the caller's bug (LocalProtocolError)."""
    server = lab.session(Device()).server
    with pytest.raises(LocalProtocolError):
        server.receive_pdu(b"\x13\x03\x04\x00", T0)
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"\x13", T0)
    server.start(T0)
    with pytest.raises(LocalProtocolError):
        server.start(T0)
    with pytest.raises(LocalProtocolError):
        server.receive_pdu(b"\x13\x03\x04\x00", datetime(2025, 1, 1))  # naive datetime


# -- the client's error messages (3.1.5.3) ---------------------------------------------------


def test_client_total_abort_ends_licensing_without_reply(lab: Lab) -> None:
    """ERR_INVALID_SERVER_CERTIFICATE / ST_TOTAL_ABORT from the client: ABORTED, nothing sent."""
    session = started(lab)
    session.server.data_to_send()
    session.server.receive_pdu(
        error_pdu(ErrorCode.ERR_INVALID_SERVER_CERTIFICATE, StateTransition.ST_TOTAL_ABORT), T0
    )
    assert session.server.state is ServerState.ABORTED
    assert session.server.data_to_send() == []
    (failed,) = drain(session.server)
    assert isinstance(failed, LicensingFailed) and failed.origin is FailureOrigin.PEER
    assert not failed.error_sent


def test_client_reset_phase_to_start_restarts_with_a_new_license_request(lab: Lab) -> None:
    """ST_RESET_PHASE_TO_START: back to Licensing Begin, a fresh License Request is sent."""
    session = started(lab)
    (first,) = session.server.data_to_send()
    session.server.receive_pdu(
        error_pdu(ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_RESET_PHASE_TO_START), T0
    )
    (second,) = session.server.data_to_send()
    assert second[0] == MsgType.LICENSE_REQUEST and second[4:36] != first[4:36]  # new random
    assert session.server.state is ServerState.AWAIT_CLIENT_LICENSE
    assert isinstance(drain(session.server)[0], LicensingRestarted)
    session.client.receive_pdu(second, T0)
    pump(session, T0)
    assert session.server.state is ServerState.COMPLETED


def test_client_resend_last_message_repeats_it_byte_for_byte(lab: Lab) -> None:
    """ST_RESEND_LAST_MESSAGE: the last message goes out again, unchanged."""
    session = started(lab)
    (first,) = session.server.data_to_send()
    session.server.receive_pdu(
        error_pdu(ErrorCode.ERR_INVALID_MAC, StateTransition.ST_RESEND_LAST_MESSAGE), T0
    )
    assert session.server.data_to_send() == [first]
    assert session.server.state is ServerState.AWAIT_CLIENT_LICENSE


def test_client_no_transition_error_changes_nothing(lab: Lab) -> None:
    """An error with ST_NO_TRANSITION leaves the server waiting where it was."""
    session = started(lab)
    session.server.data_to_send()
    session.server.receive_pdu(
        error_pdu(ErrorCode.ERR_NO_LICENSE, StateTransition.ST_NO_TRANSITION), T0
    )
    assert session.server.state is ServerState.AWAIT_CLIENT_LICENSE
    assert session.server.data_to_send() == []


def test_restarts_are_capped(lab: Lab) -> None:
    """A client that keeps asking to restart is refused after max_restarts (3)."""
    session = started(lab)
    session.server.data_to_send()
    reset = error_pdu(ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_RESET_PHASE_TO_START)
    for _ in range(3):
        session.server.receive_pdu(reset, T0)
        session.server.data_to_send()
    with pytest.raises(MalformedMessage, match="restarts"):
        session.server.receive_pdu(reset, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_unknown_state_transition_is_malformed(lab: Lab) -> None:
    """A dwStateTransition outside 1-4 is malformed."""
    session = started(lab)
    session.server.data_to_send()
    with pytest.raises(MalformedMessage):
        session.server.receive_pdu(error_pdu(ErrorCode.ERR_INVALID_CLIENT, 9), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


# -- timers ----------------------------------------------------------------------------------


def test_idle_client_is_dropped_without_a_licensing_pdu(lab: Lab) -> None:
    """The idle timer (60 s) aborts a silent client and, as Windows, sends nothing."""
    session = started(lab)
    session.server.data_to_send()
    deadline = session.server.get_timer()
    assert deadline == T0.timestamp() + 60
    session.server.handle_timer(deadline - 1)
    assert session.server.state is ServerState.AWAIT_CLIENT_LICENSE
    session.server.handle_timer(deadline)
    assert session.server.state is ServerState.ABORTED
    assert session.server.data_to_send() == []
    assert session.server.get_timer() is None
    (failed,) = drain(session.server)
    assert isinstance(failed, LicensingFailed) and failed.origin is FailureOrigin.TIMEOUT
    assert not failed.error_sent


def test_idle_timer_restarts_on_each_message_and_can_send_an_alert(lab: Lab) -> None:
    """Each client message re-arms the timer; ``idle_timeout_alert`` sends ERR_INVALID_CLIENT."""
    session = started(lab, idle_timeout=10.0, idle_timeout_alert=True)
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    (answer,) = session.client.data_to_send()
    later = T0.timestamp() + 5
    session.server.receive_pdu(answer, later)
    assert session.server.get_timer() == later + 10
    session.server.handle_timer(later + 10)
    pdus = session.server.data_to_send()
    assert [error_of(p) for p in pdus[1:]] == [
        (ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_TOTAL_ABORT)
    ]
    assert session.server.state is ServerState.ABORTED


def test_idle_timer_can_be_disabled(lab: Lab) -> None:
    """``idle_timeout=None``: no timer at all."""
    session = started(lab, idle_timeout=None)
    assert session.server.get_timer() is None
    session.server.handle_timer(T0.timestamp() + 10**6)
    assert session.server.state is ServerState.AWAIT_CLIENT_LICENSE


def test_completed_exchange_has_no_timer(lab: Lab) -> None:
    """Once licensing is over nothing is pending."""
    session = lab.connect(Device())
    assert session.server.get_timer() is None
    session.server.handle_timer(T0.timestamp() + 10**6)
    assert session.server.state is ServerState.COMPLETED


# -- real clients' quirks -----------------------------------------------------------------


@pytest.mark.parametrize("platform", ["rdesktop", "rdesktop-rdp4"])
def test_rdesktop_is_licensed_despite_its_quirks(lab: Lab, platform: str) -> None:
    """Zero randoms, unencrypted zero premaster, token echo (and RDP 4 preamble) are accepted."""
    device = Device(platform=platform, machine_name="linuxbox")
    session = lab.connect(device)
    assert session.server.state is ServerState.COMPLETED
    request = decode_licensing_pdu(session.wire[1][1])
    assert request.message.client_random == bytes(32)  # type: ignore[union-attr]
    assert request.message.encrypted_pre_master_secret.blob_data == bytes(72)  # type: ignore[union-attr]
    answered = session.server_event(PlatformChallengeAnswered)
    assert answered.client_type is None  # the echoed token carries none
    assert session.server_event(NewLicenseIssued).license.temporary
    again = lab.connect(device, T0 + DAY)
    assert again.message_types()[1] == "c2s:0x12"
    assert again.server.state is ServerState.COMPLETED
    # The License Request goes out before the client speaks (version 3); the server then
    # answers an RDP 4.0 client in its own preamble version.
    version = 2 if platform == "rdesktop-rdp4" else 3
    assert [pdu[1] for d, pdu in session.wire if d == "s2c"] == [3, version, version]


def test_freerdp_extended_error_flag_is_accepted_and_never_echoed(lab: Lab) -> None:
    """FreeRDP sets 0x80 in its preambles; the server never does (R62)."""
    session = lab.connect(Device(platform="freerdp"))
    assert session.server.state is ServerState.COMPLETED
    assert all(pdu[1] == 0x83 for d, pdu in session.wire if d == "c2s")
    assert all(pdu[1] & 0x80 == 0 for d, pdu in session.wire if d == "s2c")


def test_proprietary_certificate_is_verified_and_used(lab: Lab) -> None:
    """A proprietary certificate (signed with the Terminal Services key) works end to end."""
    config = lab.server_config(
        private_key=lab.keys.proprietary_key, certificate=lab.keys.proprietary_certificate
    )
    session = lab.connect(Device(), server_config=config)
    assert session.server.state is ServerState.COMPLETED
    assert session.client_events[0].certificate == "proprietary"  # type: ignore[union-attr]


def test_empty_certificate_uses_the_connect_response_key(lab: Lab) -> None:
    """An empty certificate blob: the client uses the MCS Connect Response's (2.2.2.1)."""
    config = lab.server_config(private_key=lab.keys.proprietary_key, certificate=b"")
    device = Device()
    client_config = device.config(server_certificate=lab.keys.proprietary_certificate)
    session = lab.connect(device, server_config=config, client_config=client_config)
    assert session.server.state is ServerState.COMPLETED
    assert session.client_events[0].certificate == "none"  # type: ignore[union-attr]


def test_random_challenge_option(lab: Lab) -> None:
    """``random_challenge_size`` draws a fresh challenge instead of Windows' "TEST" token."""
    config = lab.server_config(random_challenge_size=16)
    session = lab.connect(Device(), server_config=config)
    assert session.server.state is ServerState.COMPLETED
    challenge = decode_licensing_pdu(session.wire[2][1]).message
    assert len(challenge.encrypted_platform_challenge.blob_data) == 16  # type: ignore[union-attr]


# -- the license service's answers -----------------------------------------------------------


def test_valid_client_then_disconnect_refusal_style(make_lab: LabFactory) -> None:
    """RefusalStyle valid-client-then-disconnect: STATUS_VALID_CLIENT, then Set Error Info 0x102."""
    host = make_lab(refusal_style=RefusalStyle.VALID_CLIENT_THEN_DISCONNECT)
    device = Device()
    host.connect(device)
    session = host.connect(device, T0 + 91 * DAY)
    assert error_of(session.wire[-1][1]) == (
        ErrorCode.STATUS_VALID_CLIENT,
        StateTransition.ST_NO_TRANSITION,
    )
    failed = session.server_event(LicensingFailed)
    assert failed.origin is FailureOrigin.REFUSED and failed.error_info == 0x102
    assert session.client.state is ClientState.COMPLETED  # the client sees success


def test_unreachable_license_server_in_grace_gives_valid_client(make_lab: LabFactory) -> None:
    """No license server, inside the grace period: STATUS_VALID_CLIENT (R46)."""
    host = make_lab(license_server_reachable=False)
    session = host.connect(Device())
    assert session.message_types()[-1] == "s2c:0xFF"
    assert session.server_event(ValidClient).reason.startswith("license server unreachable")


def scripted(lab: Lab, *decisions: Decision, fail: bool = False) -> Session:
    """A session whose server gets ``decisions`` in turn (answers the policy never gives),
    or, with ``fail``, a license server that raises."""
    answers = list(decisions)

    def decide(question: DecisionNeeded, now: object) -> Decision:
        if fail:
            raise OSError("database is on fire")
        return answers.pop(0)

    session = Session(
        LicensingServer(lab.server_config(), lab.policy.host(), random_bytes=seeded_bytes(1)),
        lab.session(Device()).client,
        decide,
    )
    session.server.start(T0)
    session.client.start(T0)
    return session


def refusal(transition: StateTransition) -> Decision:
    return Decision(
        DecisionKind.REFUSE,
        "scripted",
        error_code=ErrorCode.ERR_INVALID_CLIENT,
        state_transition=transition,
        error_info=ErrorInfo.ERRINFO_LICENSE_INTERNAL,
    )


def test_service_refusal_with_reset_phase_to_start_restarts_both_sides(lab: Lab) -> None:
    """A refusal with ST_RESET_PHASE_TO_START sends a new License Request; the client follows."""
    ok = Decision(DecisionKind.VALID_CLIENT, "fine")
    session = pump(scripted(lab, refusal(StateTransition.ST_RESET_PHASE_TO_START), ok), T0)
    assert session.message_types() == [
        "s2c:0x01",
        "c2s:0x13",
        "s2c:0x02",
        "c2s:0x15",
        "s2c:0xFF",
        "s2c:0x01",
        "c2s:0x13",
        "s2c:0x02",
        "c2s:0x15",
        "s2c:0xFF",
    ]
    assert session.server.state is ServerState.COMPLETED
    assert session.client.state is ClientState.COMPLETED


def test_service_refusal_with_resend_last_message_gets_the_response_again(lab: Lab) -> None:
    """A refusal with ST_RESEND_LAST_MESSAGE: the client sends its response again."""
    ok = Decision(DecisionKind.VALID_CLIENT, "fine")
    session = pump(scripted(lab, refusal(StateTransition.ST_RESEND_LAST_MESSAGE), ok), T0)
    assert session.message_types()[-3:] == ["s2c:0xFF", "c2s:0x15", "s2c:0xFF"]
    assert session.wire[3] == session.wire[-2]
    assert session.server.state is ServerState.COMPLETED


def test_failing_service_gets_err_no_license_server(lab: Lab) -> None:
    """A license server that fails: the driver's decision_failed sends ERR_NO_LICENSE_SERVER /
    ST_TOTAL_ABORT and reports a service failure, not the client's."""
    session = pump(scripted(lab, fail=True), T0)
    assert error_of(session.wire[-1][1]) == (
        ErrorCode.ERR_NO_LICENSE_SERVER,
        StateTransition.ST_TOTAL_ABORT,
    )
    failed = session.server_event(LicensingFailed)
    assert failed.origin is FailureOrigin.SERVICE and "database is on fire" in failed.reason
    assert session.server.state is ServerState.ABORTED


def test_service_decision_that_is_not_final_is_a_service_failure(lab: Lab) -> None:
    """PLATFORM_CHALLENGE after the challenge is the license server's bug: the client gets
    ERR_NO_LICENSE_SERVER, and the failure is reported as the service's."""
    session = pump(scripted(lab, Decision(DecisionKind.PLATFORM_CHALLENGE, "again")), T0)
    assert error_of(session.wire[-1][1])[0] == ErrorCode.ERR_NO_LICENSE_SERVER
    failed = session.server_event(LicensingFailed)
    assert failed.origin is FailureOrigin.SERVICE and "does not answer" in failed.reason


def test_a_license_without_its_description_is_a_service_failure(lab: Lab) -> None:
    """ISSUE_NEW without the license's description cannot be logged or replayed: refused."""
    session = pump(scripted(lab, Decision(DecisionKind.ISSUE_NEW, "no summary", blob=b"x")), T0)
    assert error_of(session.wire[-1][1])[0] == ErrorCode.ERR_NO_LICENSE_SERVER


def test_the_server_waits_for_its_decision_and_asks_once(lab: Lab) -> None:
    """After the challenge response the server asks once and sends nothing until decided;
    no timer runs meanwhile."""
    session = lab.session(Device(), server_config=lab.server_config(idle_timeout=5.0))
    server, client = session.server, session.client
    server.start(T0)
    client.start(T0)
    client.receive_pdu(server.data_to_send()[0], T0)
    server.receive_pdu(client.data_to_send()[0], T0)
    client.receive_pdu(server.data_to_send()[0], T0)
    server.receive_pdu(client.data_to_send()[0], T0)
    asked = [e for e in drain(server) if isinstance(e, DecisionNeeded)]
    assert len(asked) == 1 and asked[0].question is Question.CHALLENGE_RESPONSE
    assert asked[0].presented is None and len(asked[0].client.hwid) == 20
    assert server.awaiting_decision and server.data_to_send() == []
    assert server.get_timer() is None
    server.handle_timer(T0 + 3600 * DAY)
    assert server.state is ServerState.CHALLENGE_ANSWERED
    server.decide(lab.decide(asked[0], T0), T0)
    assert not server.awaiting_decision and server.state is ServerState.COMPLETED
    assert decode_licensing_pdu(server.data_to_send()[0]).msg_type is MsgType.NEW_LICENSE


def test_a_client_message_while_the_server_waits_is_unexpected(lab: Lab) -> None:
    """The client must wait too: a message while the server waits for its decision aborts the
    exchange, and a decision that arrives afterwards is dropped."""
    session = lab.session(Device())
    server, client = session.server, session.client
    server.start(T0)
    client.start(T0)
    client.receive_pdu(server.data_to_send()[0], T0)
    request = client.data_to_send()[0]
    server.receive_pdu(request, T0)
    client.receive_pdu(server.data_to_send()[0], T0)
    server.receive_pdu(client.data_to_send()[0], T0)
    (asked,) = [e for e in drain(server) if isinstance(e, DecisionNeeded)]
    with pytest.raises(UnexpectedMessage):
        server.receive_pdu(request, T0)
    assert server.state is ServerState.ABORTED and not server.awaiting_decision
    server.decide(lab.decide(asked, T0), T0)  # dropped
    assert server.state is ServerState.ABORTED


def test_a_decision_nobody_asked_for_is_the_callers_error(lab: Lab) -> None:
    """decide() and decision_failed() without a question are the driver's bug."""
    session = lab.session(Device())
    session.server.start(T0)
    with pytest.raises(LocalProtocolError, match="no decision asked"):
        session.server.decide(Decision(DecisionKind.VALID_CLIENT, "?"), T0)
    with pytest.raises(LocalProtocolError, match="no decision asked"):
        session.server.decision_failed("?", T0)


# -- determinism ----------------------------------------------------------------------------


def test_same_inputs_and_seeds_give_the_same_bytes(make_lab: LabFactory) -> None:
    """Two hosts with the same configuration and seeds replay a session byte for byte."""
    wires = []
    for _ in range(2):
        host = make_lab()
        host.add_cals(1)
        device = Device()
        first = host.connect(device, server_seed=11, client_seed=12)
        second = host.connect(device, T0 + DAY, server_seed=13, client_seed=14)
        wires.append(first.wire + second.wire)
    assert wires[0] == wires[1]
    other = make_lab()
    different = other.connect(Device(), server_seed=99, client_seed=12)
    assert different.wire[0] != wires[0][0]


def test_challenge_is_windows_test_token(lab: Lab) -> None:
    """The default challenge is UTF-16LE "TEST" + NUL, 10 bytes, as Windows sends."""
    session = lab.connect(Device())
    challenge = decode_licensing_pdu(session.wire[2][1]).message
    assert len(challenge.encrypted_platform_challenge.blob_data) == 10  # type: ignore[union-attr]


def test_server_never_sets_extended_error_flag(lab: Lab) -> None:
    """No server PDU has 0x80 in its preamble flags (R62), errors included."""
    session = started(lab)
    session.server.data_to_send()
    with pytest.raises(RemoteProtocolError):
        session.server.receive_pdu(b"\x15\x83\x04\x00", T0)
    (pdu,) = session.server.data_to_send()
    assert pdu[1] == 0x03


def test_license_request_carries_the_host_product_info(lab: Lab) -> None:
    """ProductInfo, key exchange list, certificate and scope list as the host is configured."""
    session = started(lab)
    (request,) = session.server.data_to_send()
    message = decode_licensing_pdu(request).message
    assert message.product_info.version == 0x000A0001  # type: ignore[union-attr]
    assert message.product_info.company_name == "Microsoft Corporation\0".encode("utf-16-le")  # type: ignore[union-attr]
    assert message.product_info.product_id == "A02\0".encode("utf-16-le")  # type: ignore[union-attr]
    assert tuple(message.key_exchange_list.algorithms) == (1,)  # type: ignore[union-attr]
    assert message.server_certificate.blob_data == lab.keys.x509_chain  # type: ignore[union-attr]
    assert [s.issuer for s in message.scope_list.scopes] == [b"microsoft.com\0"]  # type: ignore[union-attr]
    assert request[:2] == b"\x01\x03"


# -- messages a correct client never sends, with a correct MAC -------------------------------


def crafted_response(
    session: Session, lab: Lab, response_data: bytes, hwid: bytes
) -> tuple[bytes, bytes]:
    """Run to the challenge; return (challenge plaintext, a response carrying these plaintexts)."""
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    (answer,) = session.client.data_to_send()
    session.server.receive_pdu(answer, T0)
    session.server.data_to_send()
    keys = session_keys(lab.keys.terminal_server_key, request, answer)
    key = keys.licensing_encryption_key
    message = ClientPlatformChallengeResponse(
        LicenseBinaryBlob(BlobType.BB_DATA_BLOB, rc4(key, response_data)),
        LicenseBinaryBlob(BlobType.BB_DATA_BLOB, rc4(key, hwid)),
        mac_data(keys.mac_salt_key, response_data + hwid),
    )
    return WINDOWS_PLATFORM_CHALLENGE, build_pdu(message, 3, PreambleFlags(0))


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (b"\x00\x01\x00\x01\x03\x00\x0a\x00", "malformed response data"),  # cbChallenge too big
        (b"\x00\x02\x00\x01\x03\x00\x00\x00", "wVersion"),
    ],
)
def test_bad_response_data_with_a_good_mac_is_malformed(
    lab: Lab, response: bytes, match: str
) -> None:
    """PLATFORM_CHALLENGE_RESPONSE_DATA that does not decode, or wVersion not 0x0100."""
    session = started(lab)
    device_hwid = session.client._config.hwid
    _, pdu = crafted_response(session, lab, response, device_hwid)
    with pytest.raises(MalformedMessage, match=match):
        session.server.receive_pdu(pdu, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_hardware_id_of_the_wrong_size_is_malformed(lab: Lab) -> None:
    """A CLIENT_HARDWARE_ID that is not 20 bytes, under a correct MAC: ERR_INVALID_CLIENT."""
    session = started(lab)
    challenge = WINDOWS_PLATFORM_CHALLENGE
    data = encode_platform_challenge_response_data(
        PlatformChallengeResponseData(0x0100, 0x0100, 3, challenge)
    )
    _, pdu = crafted_response(session, lab, data, bytes(19))
    with pytest.raises(MalformedMessage, match="hardware id"):
        session.server.receive_pdu(pdu, T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_key_exchange_algorithm_other_than_rsa_is_malformed(lab: Lab) -> None:
    """PreferredKeyExchangeAlg must be KEY_EXCHANGE_ALG_RSA (2.2.2.2)."""
    session = started(lab)
    message = decode_licensing_pdu(first_client_pdu(session)).message
    assert isinstance(message, ClientNewLicenseRequest)
    other = dataclasses.replace(message, preferred_key_exchange_alg=2)
    with pytest.raises(MalformedMessage, match="PreferredKeyExchangeAlg"):
        session.server.receive_pdu(build_pdu(other, 3, PreambleFlags(0)), T0)
    assert_aborted_with(session, ErrorCode.ERR_INVALID_CLIENT, MalformedMessage)


def test_license_for_another_product_is_replaced(lab: Lab) -> None:
    """A license of ours for another product id reads as WRONG_PRODUCT and is upgraded."""
    device = Device()
    other_product = issue_license(
        lab.keys.license_server,
        LicenseFields(
            license_id=4242,
            hwid=device.hwid,
            client_machine_name="PC1",
            client_user_name="alice",
            product_major=10,
            product_minor=1,
            temporary=False,
            issued=T0 - DAY,
            expires=T0 + 60 * DAY,
            product_id="A03",
        ),
    )
    device.store.store(WINDOWS_2019_KEY, other_product)
    session = lab.connect(device)
    assert session.server_event(LicensePresented).verdict == "wrong_product"
    assert session.message_types()[-1] == "s2c:0x04"
    assert session.server.state is ServerState.COMPLETED


def test_host_without_license_server_finds_every_license_foreign(lab: Lab) -> None:
    """``license_issuer=None``: presented licenses are foreign, junk is malformed."""
    device = Device()
    lab.connect(device)
    config = lab.server_config(license_issuer=None)
    session = lab.connect(device, T0 + DAY, server_config=config)
    assert session.server_event(LicensePresented).verdict == "foreign"
    junk = Device(machine_name="PC7")
    junk.store.store(WINDOWS_2019_KEY, b"junk")
    session = lab.connect(junk, T0 + DAY, server_config=config)
    assert session.server_event(LicensePresented).verdict == "malformed"
    assert session.server.state is ServerState.COMPLETED


def test_random_source_of_the_wrong_size_is_a_local_error(lab: Lab) -> None:
    """An injected random source that returns too few bytes is the caller's bug."""
    server = LicensingServer(lab.server_config(), lab.policy.host(), random_bytes=lambda n: b"\x00")
    with pytest.raises(LocalProtocolError, match="random_bytes"):
        server.start(T0)
