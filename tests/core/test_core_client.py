"""The client machine on its own: certificate checks, MACs, error messages, timer, store."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import DAY, T0, Device, Lab, Session, answer_questions, drain, error_pdu, pump

from rdplic.core import (
    CLIENT_PLATFORMS,
    ClientQuirks,
    ClientState,
    FailureOrigin,
    InvalidMac,
    InvalidServerCertificate,
    LicenseKey,
    LicenseRequestReceived,
    LicensingClient,
    LicensingFailed,
    LicensingRestarted,
    LocalProtocolError,
    MalformedMessage,
    MemoryLicenseStore,
    RemoteProtocolError,
    UnexpectedMessage,
    ValidClient,
    hardware_id,
)
from rdplic.crypto import RsaPublicKey, build_proprietary_certificate
from rdplic.pdu.licensing import (
    ErrorCode,
    LicenseErrorMessage,
    MsgType,
    StateTransition,
    decode_client_hardware_id,
    decode_licensing_pdu,
)


def error_of(pdu: bytes) -> tuple[int, int]:
    message = decode_licensing_pdu(pdu).message
    assert isinstance(message, LicenseErrorMessage)
    return int(message.error_code), int(message.state_transition)


def flip(pdu: bytes, offset: int) -> bytes:
    return pdu[:offset] + bytes([pdu[offset] ^ 0x01]) + pdu[offset + 1 :]


def begin(lab: Lab, device: Device | None = None, **server_config: object) -> Session:
    session = lab.session(device or Device(), server_config=lab.server_config(**server_config))
    session.server.start(T0)
    session.client.start(T0)
    return session


def assert_client_failed(session: Session, *, sent: tuple[int, int] | None) -> LicensingFailed:
    """The client is ABORTED; it sent ``sent`` (code, transition) or nothing at all (3.3.5.8)."""
    assert session.client.state is ClientState.ABORTED
    pdus = session.client.data_to_send()
    assert [error_of(p) for p in pdus] == ([] if sent is None else [sent])
    failed = [e for e in drain(session.client) if isinstance(e, LicensingFailed)]
    assert len(failed) == 1 and failed[0].origin is FailureOrigin.PROTOCOL
    assert failed[0].error_sent is (sent is not None)
    return failed[0]


def assert_certificate_refused(session: Session, match: str | None = None) -> None:
    """The client refuses the License Request's certificate (3.3.5.1): it raises, sends
    ERR_INVALID_SERVER_CERTIFICATE / ST_TOTAL_ABORT and ends ABORTED."""
    (request,) = session.server.data_to_send()
    with pytest.raises(InvalidServerCertificate, match=match):
        session.client.receive_pdu(request, T0)
    assert_client_failed(
        session,
        sent=(ErrorCode.ERR_INVALID_SERVER_CERTIFICATE, StateTransition.ST_TOTAL_ABORT),
    )


# -- 3.3.5.1: the server certificate ------------------------------------------------------


def test_proprietary_certificate_with_a_bad_signature_is_refused(lab: Lab) -> None:
    """A proprietary certificate whose signature fails: ERR_INVALID_SERVER_CERTIFICATE."""
    certificate = lab.keys.proprietary_certificate
    forged = certificate[:-12] + bytes([certificate[-12] ^ 0xFF]) + certificate[-11:]
    session = begin(lab, private_key=lab.keys.proprietary_key, certificate=forged)
    assert_certificate_refused(session)


def test_x509_chain_with_a_broken_link_is_refused(lab: Lab) -> None:
    """An X.509 chain whose leaf signature fails: ERR_INVALID_SERVER_CERTIFICATE."""
    chain = lab.keys.x509_chain
    tail = len(chain) - 16 - 8  # inside the leaf's signature, before the padding
    session = begin(lab, certificate=chain[:tail] + bytes([chain[tail] ^ 0xFF]) + chain[tail + 1 :])
    assert_certificate_refused(session)


def test_garbage_certificate_is_refused(lab: Lab) -> None:
    """Bytes that are no SERVER_CERTIFICATE at all: ERR_INVALID_SERVER_CERTIFICATE."""
    session = begin(lab, certificate=b"\x01\x00\x00\x00junk")
    assert_certificate_refused(session)


def test_empty_certificate_without_a_connect_response_key_is_refused(lab: Lab) -> None:
    """No certificate in the request and none from the MCS Connect Response: refused."""
    session = begin(lab, certificate=b"")
    assert_certificate_refused(session)


def test_rdesktop_ignores_the_certificate(lab: Lab) -> None:
    """rdesktop reads only the server random, so even garbage in the blob does not stop it."""
    session = begin(lab, Device(platform="rdesktop"), certificate=b"junk")
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    assert session.client.state is ClientState.AWAIT_SERVER_REPLY


# -- 3.3.5.9: MACs ----------------------------------------------------------------------------


def test_challenge_with_a_bad_mac_is_answered_with_err_invalid_mac(lab: Lab) -> None:
    """A Platform Challenge whose MAC fails: ERR_INVALID_MAC / ST_TOTAL_ABORT, then abort."""
    session = begin(lab)
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    (answer,) = session.client.data_to_send()
    session.server.receive_pdu(answer, T0)
    (challenge,) = session.server.data_to_send()
    with pytest.raises(InvalidMac):
        session.client.receive_pdu(flip(challenge, len(challenge) - 1), T0)
    assert_client_failed(session, sent=(ErrorCode.ERR_INVALID_MAC, StateTransition.ST_TOTAL_ABORT))


def run_to_license(lab: Lab, device: Device) -> tuple[Session, bytes]:
    """Run until the server has queued the New License; return it, undelivered."""
    session = begin(lab, device)
    for _ in range(2):
        (to_client,) = session.server.data_to_send()
        session.client.receive_pdu(to_client, T0)
        (to_server,) = session.client.data_to_send()
        session.server.receive_pdu(to_server, T0)
        answer_questions(session, T0)
    (license_pdu,) = session.server.data_to_send()
    assert license_pdu[0] == MsgType.NEW_LICENSE
    return session, license_pdu


def test_license_with_a_bad_mac_is_not_stored(lab: Lab) -> None:
    """A New License whose MAC fails: ERR_INVALID_MAC, nothing stored (3.3.5.9)."""
    device = Device()
    session, license_pdu = run_to_license(lab, device)
    with pytest.raises(InvalidMac):
        session.client.receive_pdu(flip(license_pdu, len(license_pdu) - 2), T0)
    assert_client_failed(session, sent=(ErrorCode.ERR_INVALID_MAC, StateTransition.ST_TOTAL_ABORT))
    assert len(device.store) == 0


def test_license_that_does_not_decode_ends_the_exchange(lab: Lab) -> None:
    """A New License with junk inside (and a MAC that a careless client skips): disconnect."""
    rdesktop = Device(platform="rdesktop")
    session, license_pdu = run_to_license(lab, rdesktop)
    with pytest.raises(MalformedMessage):
        session.client.receive_pdu(flip(license_pdu, 12), T0)  # inside cbScope
    assert_client_failed(session, sent=None)


# -- 3.3.5.8: unexpected or malformed messages, no error sent --------------------------------


def test_unexpected_message_disconnects_silently(lab: Lab) -> None:
    """A Platform Challenge before any License Request: abort, no error message (3.3.5.8)."""
    session = lab.connect(Device())
    challenge = session.wire[2][1]
    fresh = begin(lab)
    with pytest.raises(UnexpectedMessage):
        fresh.client.receive_pdu(challenge, T0)
    assert_client_failed(fresh, sent=None)


def test_client_message_from_the_server_disconnects(lab: Lab) -> None:
    """A bMsgType that only a client sends is unexpected."""
    session = lab.connect(Device())
    with pytest.raises(UnexpectedMessage, match="client message"):
        begin(lab).client.receive_pdu(session.wire[1][1], T0)


def test_malformed_pdu_disconnects_silently(lab: Lab) -> None:
    """A License Request cut short: abort without an error message."""
    session = begin(lab)
    (request,) = session.server.data_to_send()
    cut = request[:50]
    with pytest.raises(MalformedMessage):
        session.client.receive_pdu(cut[:2] + len(cut).to_bytes(2, "little") + cut[4:], T0)
    assert_client_failed(session, sent=None)


def test_bad_wmsgsize_disconnects_silently(lab: Lab) -> None:
    """wMsgSize disagreeing with the PDU: abort without an error message."""
    session = begin(lab)
    (request,) = session.server.data_to_send()
    with pytest.raises(MalformedMessage):
        session.client.receive_pdu(request + b"\x00", T0)
    failed = assert_client_failed(session, sent=None)
    assert failed.error_code == ErrorCode.ERR_INVALID_MESSAGE_LEN


def test_nothing_is_accepted_after_completion(lab: Lab) -> None:
    """A completed client refuses further PDUs and stays completed."""
    session = lab.connect(Device())
    with pytest.raises(UnexpectedMessage):
        session.client.receive_pdu(session.wire[0][1], T0)
    with pytest.raises(UnexpectedMessage):
        session.client.receive_data(b"\x01", T0)
    assert session.client.state is ClientState.COMPLETED


def test_driving_errors_are_local(lab: Lab) -> None:
    """Receiving before start(), or starting twice, is the caller's bug."""
    client = lab.session(Device()).client
    with pytest.raises(LocalProtocolError):
        client.receive_pdu(b"", T0)
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"", T0)
    client.start(T0)
    with pytest.raises(LocalProtocolError):
        client.start(T0)


# -- 3.1.5.3: the server's error messages -----------------------------------------------------


def test_valid_client_before_any_request_completes_licensing(lab: Lab) -> None:
    """A lone STATUS_VALID_CLIENT / ST_NO_TRANSITION completes licensing (MS-RDPBCGR 2.2.1.12)."""
    client = lab.session(Device()).client
    client.start(T0)
    valid = error_pdu(ErrorCode.STATUS_VALID_CLIENT, StateTransition.ST_NO_TRANSITION)
    client.receive_pdu(valid, T0)
    assert client.state is ClientState.COMPLETED
    (event,) = drain(client)
    assert isinstance(event, ValidClient) and event.reason == "server"


def test_other_error_with_no_transition_changes_nothing(lab: Lab) -> None:
    """An error code other than STATUS_VALID_CLIENT with ST_NO_TRANSITION leaves the client."""
    client = lab.session(Device()).client
    client.start(T0)
    client.receive_pdu(error_pdu(ErrorCode.ERR_NO_LICENSE, StateTransition.ST_NO_TRANSITION), T0)
    assert client.state is ClientState.LICENSING_AWAIT


def test_server_total_abort_ends_licensing(lab: Lab) -> None:
    """ERR_NO_LICENSE_SERVER / ST_TOTAL_ABORT: the client stops, nothing sent."""
    client = lab.session(Device()).client
    client.start(T0)
    client.receive_pdu(
        error_pdu(ErrorCode.ERR_NO_LICENSE_SERVER, StateTransition.ST_TOTAL_ABORT), T0
    )
    assert client.state is ClientState.ABORTED and client.data_to_send() == []
    (failed,) = drain(client)
    assert isinstance(failed, LicensingFailed) and failed.origin is FailureOrigin.PEER
    assert failed.error_code == ErrorCode.ERR_NO_LICENSE_SERVER


def test_reset_phase_to_start_waits_for_a_new_license_request(lab: Lab) -> None:
    """ST_RESET_PHASE_TO_START: back to Licensing Await; the next License Request is answered."""
    session = begin(lab)
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    session.client.data_to_send()
    reset = error_pdu(ErrorCode.ERR_INVALID_CLIENT, StateTransition.ST_RESET_PHASE_TO_START)
    session.client.receive_pdu(reset, T0)
    assert session.client.state is ClientState.LICENSING_AWAIT
    assert any(isinstance(e, LicensingRestarted) for e in drain(session.client))
    session.client.receive_pdu(request, T0)
    (again,) = session.client.data_to_send()
    assert again[0] == MsgType.NEW_LICENSE_REQUEST


def test_resend_last_message_repeats_it(lab: Lab) -> None:
    """ST_RESEND_LAST_MESSAGE: the client's last message goes out again, identical."""
    session = begin(lab)
    (request,) = session.server.data_to_send()
    session.client.receive_pdu(request, T0)
    (answer,) = session.client.data_to_send()
    resend = error_pdu(ErrorCode.ERR_INVALID_MAC, StateTransition.ST_RESEND_LAST_MESSAGE)
    session.client.receive_pdu(resend, T0)
    assert session.client.data_to_send() == [answer]
    assert session.client.state is ClientState.AWAIT_SERVER_REPLY


def test_client_restarts_are_capped(lab: Lab) -> None:
    """More than max_restarts restart requests end the exchange."""
    client = lab.session(Device()).client
    client.start(T0)
    resend = error_pdu(ErrorCode.ERR_INVALID_MAC, StateTransition.ST_RESEND_LAST_MESSAGE)
    for _ in range(3):
        client.receive_pdu(resend, T0)
    with pytest.raises(MalformedMessage):
        client.receive_pdu(resend, T0)
    assert client.state is ClientState.ABORTED


# -- 3.3.2.1: the Client Packet Wait Timer ------------------------------------------------------


def test_packet_wait_timer_aborts_after_300_seconds(lab: Lab) -> None:
    """No message for 300 s (Windows Vista's default): the client gives up."""
    client = lab.session(Device()).client
    client.start(T0)
    deadline = client.get_timer()
    assert deadline == T0.timestamp() + 300
    client.handle_timer(deadline - 0.5)
    assert client.state is ClientState.LICENSING_AWAIT
    client.handle_timer(deadline)
    assert client.state is ClientState.ABORTED and client.get_timer() is None
    (failed,) = drain(client)
    assert isinstance(failed, LicensingFailed) and failed.origin is FailureOrigin.TIMEOUT
    client.handle_timer(deadline + 1)  # nothing more happens


def test_packet_wait_timer_can_be_disabled(lab: Lab) -> None:
    """``packet_wait_timeout=None``: no timer."""
    device = Device()
    client = lab.session(device, client_config=device.config(packet_wait_timeout=None)).client
    client.start(T0)
    assert client.get_timer() is None
    client.handle_timer(T0.timestamp() + 10**6)
    assert client.state is ClientState.LICENSING_AWAIT


# -- the store and the identity ---------------------------------------------------------------


def test_license_for_an_older_version_is_not_presented(lab: Lab) -> None:
    """A license for an older dwVersion does not match: the client asks for a new one (3.3.5.1)."""
    device = Device()
    device.store.store(
        LicenseKey(0x00060000, "microsoft.com", "Microsoft Corporation", "A02"), b"old"
    )
    session = lab.connect(device)
    assert session.message_types()[1] == "c2s:0x13"
    assert session.client_event(LicenseRequestReceived).presenting is None
    assert len(device.store) == 2  # the 2019 license joins the old one


def test_license_for_a_later_version_is_presented(lab: Lab) -> None:
    """A license of the same scope, company and product and a later version is presented."""
    device = Device()
    later = LicenseKey(0x000A0002, "microsoft.com", "Microsoft Corporation", "A02")
    device.store.store(later, b"not a license")
    session = lab.connect(device)
    assert session.message_types()[1] == "c2s:0x12"
    assert session.client_event(LicenseRequestReceived).presenting == later


def test_memory_store_prefers_the_exact_version() -> None:
    """find() returns the exact version when stored, else the closest later one."""
    store = MemoryLicenseStore()
    wanted = LicenseKey(0x00060001, "Microsoft.com", "Microsoft Corporation", "A02")
    for version in (0x00060000, 0x000A0001, 0x00060002):
        store.store(dataclasses.replace(wanted, version=version), bytes([version & 0xFF]))
    assert store.find(wanted) == (dataclasses.replace(wanted, version=0x00060002), b"\x02")
    store.store(wanted, b"exact")
    assert store.find(wanted) == (wanted, b"exact")
    other_product = dataclasses.replace(wanted, product_id="A03")
    assert store.find(other_product) is None


def test_windows_clients_set_the_extended_error_flag_and_rdesktop_does_not(lab: Lab) -> None:
    """Preamble flags as each client writes them: 0x83 for Windows, 0x03 for rdesktop."""
    windows = lab.connect(Device(platform="windows-7"))
    rdesktop = lab.connect(Device(platform="rdesktop", machine_name="tux"))
    assert {pdu[1] for d, pdu in windows.wire if d == "c2s"} == {0x83}
    assert {pdu[1] for d, pdu in rdesktop.wire if d == "c2s"} == {0x03}


@pytest.mark.parametrize(
    ("name", "platform_id"),
    [
        ("windows-2000-professional", 0x03010000),
        ("windows-xp-professional", 0x03010001),
        ("windows-xp-home", 0x03010002),  # rdplic's own choice (R19, KB 315262)
        ("windows-7", 0x04010000),
        ("windows-11", 0x08010000),
        ("macos", 0xFF010000),
        ("freerdp", 0x04010000),
        ("rdesktop", 0xFF010000),
    ],
)
def test_platform_presets_send_their_platform_id(lab: Lab, name: str, platform_id: int) -> None:
    """Each preset's PlatformId is what the New License Request carries."""
    session = lab.connect(Device(platform=name))
    request = decode_licensing_pdu(session.wire[1][1]).message
    assert request.platform_id == platform_id  # type: ignore[union-attr]
    assert session.client.state is ClientState.COMPLETED


def test_hardware_id_is_stable_and_carries_the_platform() -> None:
    """hardware_id(): PlatformId (2 for Windows, the request's for FreeRDP) + MD5 of the name."""
    windows = hardware_id(CLIENT_PLATFORMS["windows-10"], "PC1")
    assert windows == hardware_id(CLIENT_PLATFORMS["windows-10"], "PC1")
    assert decode_client_hardware_id(windows).platform_id == 2
    freerdp = hardware_id(CLIENT_PLATFORMS["freerdp"], "PC1")
    assert decode_client_hardware_id(freerdp).platform_id == 0x04010000
    assert windows[4:] == freerdp[4:]
    with pytest.raises(ValueError, match="20 bytes"):
        Device().config(hwid=b"short")


def test_real_client_presets_derive_their_hardware_ids_as_the_clients_do() -> None:
    """rdesktop: dword 2 + the name strncpy'd into 16 bytes (licence.c); FreeRDP: 0x04010000
    + MD5 of the name (license.c license_generate_hwid)."""
    import hashlib

    from rdplic.core.platforms import freerdp_hardware_id, rdesktop_hardware_id

    expected = bytes.fromhex("02000000") + b"TUX".ljust(16, b"\0")
    assert rdesktop_hardware_id("TUX") == expected
    assert hardware_id(CLIENT_PLATFORMS["rdesktop"], "TUX") == expected
    assert hardware_id(CLIENT_PLATFORMS["rdesktop-rdp4"], "TUX") == expected
    long_name = rdesktop_hardware_id("A-VERY-LONG-NAME-INDEED")
    assert long_name[4:] == b"A-VERY-LONG-NAM\0"  # g_hostname[16]: 15 characters
    freerdp = bytes.fromhex("00000104") + hashlib.md5(b"tux").digest()
    assert freerdp_hardware_id("tux") == freerdp == hardware_id(CLIENT_PLATFORMS["freerdp"], "tux")


def test_license_info_hwid_blob_type_follows_the_preset(lab: Lab) -> None:
    """Windows writes BB_DATA_BLOB for EncryptedHWID (MS-RDPELE 4.3), FreeRDP 0x0009."""
    for name, blob_type in (("windows-10", 0x0001), ("freerdp", 0x0009)):
        device = Device(platform=name)
        lab.connect(device)
        session = lab.connect(device, T0 + DAY)
        info = decode_licensing_pdu(session.wire[1][1]).message
        assert info.encrypted_hwid.blob_type == blob_type  # type: ignore[union-attr]


def test_pump_reaches_completion_from_a_fresh_start(lab: Lab) -> None:
    """The helper itself: both machines end completed, nothing left to send."""
    session = pump(begin(lab), T0)
    assert session.client.state is ClientState.COMPLETED
    assert session.client.data_to_send() == [] and session.server.data_to_send() == []


def test_stream_with_a_bad_wmsgsize_disconnects(lab: Lab) -> None:
    """In a stream, a wMsgSize below the preamble ends the exchange without a word."""
    client = lab.session(Device()).client
    client.start(T0)
    with pytest.raises(MalformedMessage):
        client.receive_data(b"\x01\x03\x00\x00", T0)
    assert client.state is ClientState.ABORTED and client.data_to_send() == []


def test_client_that_skips_the_signature_check_still_uses_the_key(lab: Lab) -> None:
    """FreeRDP does not check proprietary signatures: a forged one still gets it licensed."""
    trusting = dataclasses.replace(
        CLIENT_PLATFORMS["freerdp"], quirks=ClientQuirks(skip_certificate_check=True)
    )
    certificate = lab.keys.proprietary_certificate
    forged = certificate[:-12] + bytes([certificate[-12] ^ 0xFF]) + certificate[-11:]
    device = Device(platform="freerdp")
    config = lab.server_config(private_key=lab.keys.proprietary_key, certificate=forged)
    session = lab.connect(
        device, server_config=config, client_config=device.config(platform=trusting)
    )
    assert session.client.state is ClientState.COMPLETED


def test_server_key_too_small_for_the_premaster_is_refused(lab: Lab) -> None:
    """A hostile 256-bit key cannot hold a 48-byte premaster: ERR_INVALID_SERVER_CERTIFICATE."""
    tiny = RsaPublicKey(n=(1 << 255) + 0x1235, e=3)
    session = begin(lab, certificate=build_proprietary_certificate(tiny))
    assert_certificate_refused(session, match="unusable")


def test_random_source_of_the_wrong_size_is_a_local_error(lab: Lab) -> None:
    """The client refuses a random source that returns too few bytes."""
    device = Device()
    client = LicensingClient(device.config(), random_bytes=lambda n: b"")
    client.start(T0)
    session = lab.session(device)
    session.server.start(T0)
    (request,) = session.server.data_to_send()
    with pytest.raises(RemoteProtocolError):
        client.receive_pdu(request, T0)
