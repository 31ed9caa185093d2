"""The `PduError` of an input the struct engine declines is worded lazily (`DeclinedError`):
the same words as the construct engine's error, the disagreement still reported, pickled as
an ordinary `PduError`.

Bytes: the MS-RDPELE 4.1 Server License Request and 4.5 CLIENT_HARDWARE_ID examples of
tests/data/rdpele/ (see its README), truncated or with one length field made to lie.
"""

from __future__ import annotations

import pickle
import struct

import pytest
from licensing_strategies import example

from rdplic.pdu.errors import PduError
from rdplic.pdu.licensing import decode_client_hardware_id, decode_licensing_pdu
from rdplic.pdu.licensing._structcodec import Codec, DeclinedError
from rdplic.pdu.licensing.messages import MESSAGE_CODECS, MsgType

REQUEST = example("4.1-server-license-request.hex")
HWID = example("4.5-client-hardware-id-decrypted.hex")


def _lying_lengths() -> list[bytes]:
    """The License Request cut at several places, and with its first blob length too large."""
    cuts = [REQUEST[:n] for n in (5, 12, 40, 41, 100, len(REQUEST) - 1)]
    lying = bytearray(REQUEST)
    # wBlobLen of the first blob after ServerRandom and ProductInfo's fixed part.
    offset = 4 + 32 + 4
    company = struct.unpack_from("<I", lying, offset)[0]
    struct.pack_into("<I", lying, offset, company + 1000)
    return [*cuts, bytes(lying)]


@pytest.mark.parametrize("data", _lying_lengths(), ids=lambda d: f"{len(d)}B")
def test_declined_error_words_as_construct(data: bytes) -> None:
    """A declined licensing PDU raises a DeclinedError whose structure, field, offset and
    text are those of the construct engine's PduError."""
    with pytest.raises(PduError) as struct_path:
        decode_licensing_pdu(data)
    with pytest.raises(PduError) as construct_path:
        decode_licensing_pdu(data, engine="construct")
    error, reference = struct_path.value, construct_path.value
    assert isinstance(error, DeclinedError)
    assert (error.structure, error.field, error.offset, error.reason) == (
        reference.structure,
        reference.field,
        reference.offset,
        reference.reason,
    )
    assert str(error) == str(reference) and error.args == (str(reference),)


def test_declined_error_pickles_as_a_pdu_error() -> None:
    """A DeclinedError crosses a process boundary as an ordinary PduError with its words."""
    with pytest.raises(PduError) as raised:
        decode_client_hardware_id(HWID[:-1])
    copy = pickle.loads(pickle.dumps(raised.value))
    assert type(copy) is PduError and str(copy) == str(raised.value)
    assert copy.structure == "CLIENT_HARDWARE_ID" and "PduError(" in repr(raised.value)


def test_declined_error_reports_a_disagreement() -> None:
    """If the definition takes an input the struct engine declined, the error says the
    engines disagree (a generator bug is never hidden behind construct's answer)."""
    codec = MESSAGE_CODECS[MsgType.LICENSE_REQUEST]
    broken: Codec[object] = Codec(codec.structure, codec.definition)
    assert broken.struct_codec is not None

    def declines(data: bytes, pos: int) -> tuple[object, int]:
        raise struct.error("planted")

    object.__setattr__(broken.struct_codec, "parse", declines)
    with pytest.raises(DeclinedError) as raised:
        broken.parse(REQUEST, 4)
    assert raised.value.reason == "the struct decoder disagrees with construct"
    assert broken.parse(REQUEST, 4, engine="construct")[1] == len(REQUEST)


def test_declined_error_has_no_other_missing_attribute() -> None:
    """Only the four wording attributes are worked out on demand; any other is missing."""
    with pytest.raises(PduError) as raised:
        decode_client_hardware_id(b"\x01")
    assert not hasattr(raised.value, "nothing")
