"""rdplic.hostile: where the licensing fields are found, what each profile does to them,
and that a profile and a seed always give the same bytes.

The licensing messages are the worked examples of [MS-RDPELE] 4.1 (Server License Request),
4.4 (Server Platform Challenge) and 4.6 (Server New License), from tests/data/rdpele (their
README gives the provenance), framed here as a server sends them: TPKT, X.224, MCS Send Data
Indication and a basic security header with SEC_LICENSE_PKT.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from rdplic.core.connection_common import send_data_frame
from rdplic.hostile import PROFILES, HostileConnection, HostileServer, Reaction, reaction
from rdplic.hostile.profiles import Session
from rdplic.hostile.wire import LicensingFrame, fields, split_frames
from rdplic.vocabulary import Outcome

DATA = Path(__file__).resolve().parents[1] / "data" / "rdpele"
SEC_LICENSE_PKT = b"\x80\x00\x00\x00"


def _hex(name: str) -> bytes:
    return bytes.fromhex("".join((DATA / name).read_text().split()))


def _frame(message: bytes) -> bytes:
    return send_data_frame(1002, 1003, SEC_LICENSE_PKT + message, server=True)


REQUEST = _hex("4.1-server-license-request.hex")
CHALLENGE = _hex("4.4-server-platform-challenge.hex")
NEW_LICENSE = _hex("4.6-server-new-license.hex")
CONNECT_RESPONSE = bytes.fromhex(
    "".join((DATA.parent / "bcgr" / "4.1.4-server-mcs-connect-response.hex").read_text().split())
)
"""MS-RDPBCGR 4.1.4: the MCS Connect Response, for the profiles that lie before licensing."""
MESSAGES = {"license-request": REQUEST, "platform-challenge": CHALLENGE, "new-license": NEW_LICENSE}


def _run(profile: str, seed: int, index: int = 0) -> list[bytes]:
    """What connection ``index`` sends for the three messages, one write each."""
    connection = HostileConnection(PROFILES[profile], seed, index)
    return [connection.mutate(_frame(message)) for message in MESSAGES.values()]


def _messages(data: bytes) -> list[bytes]:
    parsed = [LicensingFrame.parse(frame) for frame in split_frames(data)]
    return [frame.message for frame in parsed if frame is not None]


def test_frames_parse_back_to_the_message() -> None:
    """Each framed example is found as a licensing PDU, and rebuilding it keeps the message."""
    for message in MESSAGES.values():
        frame = LicensingFrame.parse(_frame(message))
        assert frame is not None and frame.message == message
        assert LicensingFrame.parse(frame.rebuild(message + b"x")).message == message + b"x"  # type: ignore[union-attr]


def test_license_request_fields() -> None:
    """The 4.1 License Request's lengths, blobs, certificate and scope count are located."""
    found = {(f.kind, f.name): f for f in fields(REQUEST)}
    assert found["cb", "cbCompanyName"].value == 0x2C  # "Microsoft Corporation" UTF-16 + NUL
    assert found["count", "ScopeCount"].value == 1
    assert ("blob", "Scope[0]") in found and ("blob", "KeyExchangeList") in found
    assert found["certificate", "ServerCertificate"].size > 0
    assert [f.kind for f in fields(CHALLENGE)] == ["blob", "mac"]
    assert [f.kind for f in fields(NEW_LICENSE)] == ["blob", "mac"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_same_profile_and_seed_same_bytes(profile: str) -> None:
    """Two runs with one profile and seed send the same bytes, connection by connection."""
    for seed in (0, 1, 12345):
        for index in (0, 3):
            assert _run(profile, seed, index) == _run(profile, seed, index)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_changes_what_is_sent(profile: str) -> None:
    """Each profile changes the Connect Response or at least one of the three messages, and
    says what it did."""
    connection = HostileConnection(PROFILES[profile], 5, 0)
    honest = [CONNECT_RESPONSE, *(_frame(m) for m in MESSAGES.values())]
    sent = [connection.mutate(frame) for frame in honest]
    assert sent != honest
    assert connection.session.mutations


def test_seeds_differ() -> None:
    """Different seeds (and connections) draw different mutations for the random profiles."""
    for profile in ("size-larger", "blob-larger", "wrong-mac", "encrypted-oversized"):
        runs = {tuple(_run(profile, seed, index)) for seed in range(4) for index in range(2)}
        assert len(runs) > 1, profile


def test_cve_2014_0791_scope_count() -> None:
    """cve-2014-0791 sends a ScopeCount whose allocation overflows, nothing else changed."""
    (message,) = _messages(_run("cve-2014-0791", 1)[0])
    count = next(f for f in fields(message) if f.name == "ScopeCount")
    assert count.value >= 0x20000000
    assert len(message) == len(REQUEST)
    assert _run("cve-2014-0791", 1)[1:] == [_frame(CHALLENGE), _frame(NEW_LICENSE)]


def test_cve_2017_2838_product_info() -> None:
    """cve-2017-2838 makes cbCompanyName or cbProductId run past the PDU."""
    for seed in range(6):
        (message,) = _messages(_run("cve-2017-2838", seed)[0])
        assert max(f.value for f in fields(message) if f.kind == "cb") > len(message)


def test_cve_2017_2839_challenge_length() -> None:
    """cve-2017-2839 makes the encrypted platform challenge's wBlobLen lie (past the data)."""
    (message,) = _messages(_run("cve-2017-2839", 3)[1])
    length = int.from_bytes(message[10:12], "little")  # preamble, ConnectFlags, wBlobType
    assert length > len(message) - 12 - 16


def test_cve_2020_11099_short_license_info() -> None:
    """cve-2020-11099 cuts the encrypted New License Info to at most 16 bytes, lengths true."""
    (message,) = _messages(_run("cve-2020-11099", 2)[2])
    blob = fields(message)[0]
    assert blob.size <= 16 and len(message) == 4 + 4 + blob.size + 16
    assert int.from_bytes(message[2:4], "little") == len(message)


def test_never_sent_and_repeat() -> None:
    """never-sent drops the encrypted messages; repeat sends each message 2-4 times."""
    assert _run("never-sent", 0)[1:] == [b"", b""]
    for sent, message in zip(_run("repeat", 0), MESSAGES.values(), strict=True):
        assert 2 <= len(_messages(sent)) <= 4 and set(_messages(sent)) == {message}


def test_out_of_order_resends_the_request() -> None:
    """out-of-order holds the License Request back and sends it after the next message."""
    first, second, _ = _run("out-of-order", 0)
    assert first == _frame(REQUEST)
    assert _messages(second) == [CHALLENGE, REQUEST]


def test_other_frames_pass_untouched() -> None:
    """Non-licensing frames, encrypted licensing PDUs (SEC_ENCRYPT: MS-RDPBCGR 4.1.11) and a
    partial frame are sent as they are."""
    encrypted = _hex("bcgr-4.1.11-valid-client-frame.hex")
    other = send_data_frame(1002, 1003, b"\x00\x00\x00\x00abcd", server=True)
    for profile in PROFILES:
        connection = HostileConnection(PROFILES[profile], 0, 0)
        for data in (encrypted, other, _frame(REQUEST)[:20]):
            assert connection.mutate(data) == data


def test_connections_are_numbered() -> None:
    """A HostileServer numbers its connections from 0, so runs are repeatable per connection."""
    server = HostileServer("wrong-mac", 9)
    assert [server.connection().index for _ in range(3)] == [0, 1, 2]


def test_reactions() -> None:
    """The log's reaction words come from the outcome and how TCP ended."""
    assert reaction(Outcome.TIMEOUT, False) is Reaction.TIMEOUT
    assert reaction(Outcome.ENDED, True) is Reaction.RESET
    assert reaction(Outcome.PROTOCOL_ERROR, False) is Reaction.LICENSING_ERROR
    assert reaction(Outcome.ENDED, False) is Reaction.CLEAN_DISCONNECT


def test_session_rng_is_the_only_randomness() -> None:
    """A session built from an equal generator makes the same choices (no other source)."""
    profile = PROFILES["certificate-lie"]
    frame = LicensingFrame.parse(_frame(REQUEST))
    assert frame is not None
    one = profile.mutate(frame, Session(random.Random("x")))
    two = profile.mutate(frame, Session(random.Random("x")))
    assert one == two and one is not None


def test_cli_lists_profiles_and_rejects_unknown() -> None:
    """``serve --hostile list`` prints every profile; an unknown one is one line, exit 2."""
    command = [sys.executable, "-m", "rdplic.cli.main", "serve", "--hostile"]
    listed = subprocess.run([*command, "list"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0
    assert {line.split()[0] for line in listed.stdout.splitlines()} == set(PROFILES)
    bad = subprocess.run([*command, "nope"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
