"""SERVER_CERTIFICATE wire format (MS-RDPBCGR 2.2.1.4.3.1, MS-RDPELE 2.2.1.4.2).

Known bytes: the proprietary certificate of captures/windows/win-stdsec-valid-client.pcapng
(frame 13, via tests/data/windows) and the X.509 chain of MS-RDPELE 4.1 (tests/data/rdpele).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.pdu.certificates import (
    ProprietaryServerCertificate,
    RsaPublicKeyBlob,
    ServerCertificate,
    X509CertificateChain,
    decode_server_certificate,
    encode_server_certificate,
    x509_padding,
)
from rdplic.pdu.errors import PduError

DATA = Path(__file__).resolve().parent.parent / "data"


def _hex(path: Path) -> bytes:
    return bytes.fromhex("".join(path.read_text(encoding="ascii").split()))


def windows_proprietary_certificate() -> bytes:
    """serverCertificate of the SC_SECURITY block (0x0C02, 428 bytes) of capture frame 13."""
    frame = _hex(DATA / "windows" / "stdsec-conn2-frame13-s2c.hex")
    block = frame[frame.index(b"\x02\x0c\xac\x01") :]
    random_len, cert_len = struct.unpack_from("<II", block, 12)
    return block[20 + random_len : 20 + random_len + cert_len]


def spec_41_server_certificate() -> bytes:
    """The ServerCertificate blob of MS-RDPELE 4.1 (offset 0x6C of the licensing message)."""
    pdu = _hex(DATA / "rdpele" / "4.1-server-license-request.hex")
    blob_type, length = struct.unpack_from("<HH", pdu, 0x6C)
    assert blob_type == 0x0003  # BB_CERTIFICATE_BLOB
    return pdu[0x70 : 0x70 + length]


def test_windows_proprietary_certificate() -> None:
    """Windows' 2048-bit proprietary certificate decodes field by field and re-encodes exactly."""
    data = windows_proprietary_certificate()
    decoded = decode_server_certificate(data)
    assert decoded.permanent is False and decoded.cert_chain_version == 1
    assert decoded.dw_version == 0x00000001
    body = decoded.certificate
    assert isinstance(body, ProprietaryServerCertificate)
    assert (body.sig_alg_id, body.key_alg_id) == (1, 1)
    assert (body.public_key_blob_type, body.signature_blob_type) == (0x0006, 0x0008)
    key = body.public_key
    assert (key.bitlen, key.datalen, key.pub_exp) == (2048, 255, 0x10001)
    assert len(key.modulus) == 264 and key.modulus.endswith(bytes(8))
    assert len(body.signature) == 72 and body.signature.endswith(bytes(8))
    assert encode_server_certificate(decoded) == data


def test_spec_41_chain() -> None:
    """MS-RDPELE 4.1's chain: t bit set, two DER certificates, 16 bytes of padding, exact."""
    data = spec_41_server_certificate()
    decoded = decode_server_certificate(data)
    assert decoded.permanent is True and decoded.dw_version == 0x80000002
    body = decoded.certificate
    assert isinstance(body, X509CertificateChain)
    assert [len(c) for c in body.certificates] == [0x2F5, 0x4FD]
    assert body.padding == x509_padding(2) == bytes(16)
    assert encode_server_certificate(decoded) == data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", ""),
        (b"\x03\x00\x00\x00", "dwVersion"),
        (struct.pack("<II", 2, 0), ""),
        (struct.pack("<II", 2, 201), ""),
        (struct.pack("<III", 2, 1, 100) + b"x", "CertBlobArray"),
    ],
    ids=["empty", "version-3", "no-certs", "201-certs", "short-cert"],
)
def test_malformed(data: bytes, field: str) -> None:
    """Bad versions, counts outside 1..200 and short blobs raise PduError naming the field."""
    with pytest.raises(PduError) as error:
        decode_server_certificate(data)
    assert error.value.structure == "SERVER_CERTIFICATE"
    assert field in error.value.field


def test_proprietary_rejects_trailing_bytes() -> None:
    """Bytes after the signature blob of a proprietary certificate are an error."""
    with pytest.raises(PduError):
        decode_server_certificate(windows_proprietary_certificate() + b"\x00")


def test_rsa1_magic_and_keylen_are_checked() -> None:
    """A PublicKeyBlob without "RSA1" or whose keylen disagrees with its length is refused."""
    data = bytearray(windows_proprietary_certificate())
    bad_magic = bytes(data[:16]) + b"RSA2" + bytes(data[20:])
    with pytest.raises(PduError):
        decode_server_certificate(bad_magic)
    data[20] ^= 0x01  # keylen
    with pytest.raises(PduError):
        decode_server_certificate(bytes(data))


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

proprietary = st.builds(
    ProprietaryServerCertificate,
    public_key=st.builds(
        RsaPublicKeyBlob, bitlen=u32, datalen=u32, pub_exp=u32, modulus=st.binary(max_size=300)
    ),
    signature=st.binary(max_size=100),
    sig_alg_id=u32,
    key_alg_id=u32,
    public_key_blob_type=u16,
    signature_blob_type=u16,
)
chains = st.builds(
    X509CertificateChain,
    certificates=st.lists(st.binary(max_size=60), min_size=1, max_size=5).map(tuple),
    padding=st.binary(max_size=30),
)
certificates = st.builds(
    ServerCertificate, certificate=st.one_of(proprietary, chains), permanent=st.booleans()
)


@settings(max_examples=200, deadline=None)
@given(certificate=certificates)
def test_round_trip(certificate: ServerCertificate) -> None:
    """decode(encode(x)) == x for any certificate whose lengths fit their fields."""
    body = certificate.certificate
    if isinstance(body, ProprietaryServerCertificate) and len(body.public_key.modulus) > 0xFFEB:
        return
    assert decode_server_certificate(encode_server_certificate(certificate)) == certificate


@settings(max_examples=200, deadline=None)
@given(certificate=certificates)
def test_encode_decode_bytes(certificate: ServerCertificate) -> None:
    """encode(decode(b)) == b for the bytes any certificate encodes to."""
    data = encode_server_certificate(certificate)
    assert encode_server_certificate(decode_server_certificate(data)) == data


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300))
def test_garbage_raises_only_pdu_error(data: bytes) -> None:
    """Arbitrary bytes decode or raise PduError, never another exception."""
    try:
        decoded = decode_server_certificate(data)
    except PduError:
        return
    assert encode_server_certificate(decoded) == data


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 375))
def test_truncations_raise_pdu_error(cut: int) -> None:
    """Every truncation of the Windows certificate raises PduError."""
    with pytest.raises(PduError):
        decode_server_certificate(windows_proprietary_certificate()[:cut])


def test_encode_rejects_oversized_fields() -> None:
    """A signature too long for its 16-bit length field raises PduError on encode."""
    body = ProprietaryServerCertificate(
        public_key=RsaPublicKeyBlob(bitlen=512, datalen=63, pub_exp=3, modulus=bytes(72)),
        signature=bytes(70000),
    )
    with pytest.raises(PduError):
        encode_server_certificate(ServerCertificate(certificate=body))
