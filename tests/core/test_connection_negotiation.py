"""The server's answer to an X.224 Connection Request (MS-RDPBCGR 3.3.5.3.1, 2.2.1.2)."""

from __future__ import annotations

import pytest

from rdplic.core.connection_common import FrameReader, negotiate_security
from rdplic.core.errors import ConnectionProtocolError
from rdplic.pdu.framing import (
    NegotiationFailureCode,
    Protocol,
    RdpNegotiationFailure,
    RdpNegotiationRequest,
    RdpNegotiationResponse,
)

SSL = Protocol.PROTOCOL_SSL
HYBRID = Protocol.PROTOCOL_HYBRID
RDP = Protocol.PROTOCOL_RDP
FAIL_REQUIRED = NegotiationFailureCode.SSL_REQUIRED_BY_SERVER
FAIL_NOT_ALLOWED = NegotiationFailureCode.SSL_NOT_ALLOWED_BY_SERVER


@pytest.mark.parametrize(
    ("requested", "allow_rdp", "allow_tls", "expected"),
    [
        # Both layers offered (the default): TLS when offered, RDP otherwise.
        (None, True, True, None),  # xfreerdp /sec:rdp, rdesktop -4: no RDP_NEG_REQ
        (RDP, True, True, RDP),
        (SSL, True, True, SSL),  # xfreerdp /sec:tls
        (SSL | HYBRID, True, True, SSL),  # rdesktop, xfreerdp default: CredSSP never chosen
        (HYBRID, True, True, FAIL_REQUIRED),  # CredSSP only: "the server only supports TLS"
        # Standard RDP Security only: what the Windows capture shows for SSL|HYBRID.
        (None, True, False, None),
        (RDP, True, False, RDP),
        (SSL | HYBRID, True, False, FAIL_NOT_ALLOWED),
        (SSL, True, False, FAIL_NOT_ALLOWED),
        # TLS only.
        (None, False, True, FAIL_REQUIRED),
        (RDP, False, True, FAIL_REQUIRED),
        (SSL | HYBRID, False, True, SSL),
        (HYBRID, False, True, FAIL_REQUIRED),
    ],
)
def test_negotiation_table(
    requested: Protocol | None, allow_rdp: bool, allow_tls: bool, expected: object
) -> None:
    """Each request gets the protocol Windows (NLA disabled) selects, or its failure code."""
    request = None if requested is None else RdpNegotiationRequest(requested)
    answer = negotiate_security(request, allow_rdp=allow_rdp, allow_tls=allow_tls)
    if expected is None:
        assert answer is None
    elif isinstance(expected, NegotiationFailureCode):
        assert isinstance(answer, RdpNegotiationFailure)
        assert answer.failure_code == expected
    else:
        assert isinstance(answer, RdpNegotiationResponse)
        assert answer.selected_protocol == expected
        assert int(answer.flags) == 0x1F  # as Windows Server 2016 and later


def test_frame_reader_waits_for_whole_frames() -> None:
    """A frame is handed out only once all its bytes are in, whatever the split."""
    frame = bytes.fromhex("0300000802f08028")
    reader = FrameReader()
    for byte in frame[:-1]:
        reader.feed(bytes([byte]))
        assert reader.next_frame() is None
    reader.feed(frame[-1:] + frame)
    assert reader.next_frame() == frame
    assert reader.next_frame() == frame
    assert reader.pending == 0


def test_frame_reader_caps_the_frame_size() -> None:
    """A TPKT length above the cap is refused before the bytes arrive (invariant 3)."""
    reader = FrameReader(max_frame_size=4096)
    reader.feed(bytes.fromhex("03001001"))
    with pytest.raises(ConnectionProtocolError, match="exceeds 4096"):
        reader.next_frame()
