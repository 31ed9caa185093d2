"""X.509 chains of the License Request: MS-RDPELE 4.1, a Windows Server 2019 chain, ours."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from crypto_helpers import CREATED, seeded
from crypto_vectors import CRYPTO, hex_file, spec_41_server_certificate
from cryptography import x509 as cx509
from cryptography.exceptions import UnsupportedAlgorithm
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import (
    CertificateError,
    LicenseServerIdentity,
    build_license_server_certificate,
    build_terminal_server_certificate,
    build_x509_chain,
    generate_rsa_key,
    public_key_from_server_certificate,
    verify_server_certificate,
    verify_x509_chain,
)
from rdplic.crypto.asn1 import OID_RSA_ENCRYPTION, OID_RSA_OIW, OID_SHA1_RSA_OIW
from rdplic.crypto.hydra import (
    LicensedProductInfo,
    LicenseServerInfo,
    decode_hwid_serial,
)
from rdplic.crypto.x509 import TERMINAL_SERVER_NOT_AFTER, parse_certificate
from rdplic.pdu.certificates import X509CertificateChain, decode_server_certificate

HWID = b"\x02\x00\x00\x00" + bytes(range(16))


def _spec_41_certificates() -> tuple[bytes, ...]:
    chain = decode_server_certificate(spec_41_server_certificate()).certificate
    assert isinstance(chain, X509CertificateChain)
    return chain.certificates


def _shape(der: bytes) -> list[tuple[str, bool]]:
    return [(oid, critical) for oid, critical, _ in parse_certificate(der).extensions]


def _attribute_types(name_der: bytes) -> list[tuple[str, int]]:
    from asn1crypto import core

    from rdplic.crypto.asn1 import Name

    return [
        (atv["type"].dotted, core.load(atv["value"].dump()).tag)
        for rdn in Name.load(name_der)
        for atv in rdn
    ]


def test_spec_41_chain_verifies() -> None:
    """MS-RDPELE 4.1's chain verifies link by link; its leaf: a 2048-bit key, OID 1.3.14.3.2.15."""
    data = spec_41_server_certificate()
    assert data[:4] == bytes.fromhex("02000080")
    leaf = verify_x509_chain(data)
    assert leaf.bits == 2048
    assert public_key_from_server_certificate(data) == leaf
    assert verify_server_certificate(data) == leaf
    ls, ts = (parse_certificate(der) for der in _spec_41_certificates())
    assert ts.key_algorithm == OID_RSA_OIW and ls.key_algorithm == OID_RSA_ENCRYPTION
    assert ts.signature_algorithm == OID_SHA1_RSA_OIW
    assert ts.subject_attributes[0] == ("2.5.4.3", "ncalrpc:RODENT")
    assert ts.not_after == TERMINAL_SERVER_NOT_AFTER


def test_spec_41_padding_is_8_plus_4n() -> None:
    """The 4.1 chain ends with 16 zero bytes: 8 + 4 per certificate."""
    chain = decode_server_certificate(spec_41_server_certificate()).certificate
    assert isinstance(chain, X509CertificateChain)
    assert chain.padding == bytes(16)
    assert build_x509_chain(list(chain.certificates)) == spec_41_server_certificate()


def test_standard_x509_library_refuses_the_terminal_server_key() -> None:
    """cryptography cannot give the 4.1 leaf key (OID 1.3.14.3.2.15): why we parse it ourselves."""
    certificate = cx509.load_der_x509_certificate(_spec_41_certificates()[1])
    with pytest.raises((ValueError, UnsupportedAlgorithm)):
        certificate.public_key()


def test_windows_2019_chain_verifies() -> None:
    """A Windows Server 2019 chain (license server issued by Microsoft, 512-bit leaf) verifies."""
    chain = build_x509_chain(
        [
            hex_file(CRYPTO / "ironrdp-2019-license-server-cert.hex"),
            hex_file(CRYPTO / "ironrdp-2019-terminal-server-cert.hex"),
        ]
    )
    assert verify_x509_chain(chain).bits == 512


def test_spec_41_terminal_server_hwid_decodes() -> None:
    """The 4.1 terminal server's serialNumber decodes to a hardware id with PlatformId 2."""
    ts = parse_certificate(_spec_41_certificates()[1])
    serial = ts.subject_attribute("2.5.4.5")
    assert serial is not None
    assert decode_hwid_serial(serial)[:4] == b"\x02\x00\x00\x00"


def test_license_server_certificate_like_windows(license_server: LicenseServerIdentity) -> None:
    """Our license-server certificate has 4.1's shape: BMP names, 1970-2049, FILETIME serial, CA."""
    ours = parse_certificate(license_server.certificate)
    theirs = parse_certificate(_spec_41_certificates()[0])
    assert _shape(license_server.certificate) == _shape(theirs.der)
    assert _attribute_types(ours.subject) == _attribute_types(theirs.subject)
    assert ours.issuer == ours.subject
    assert ours.not_before == datetime(1970, 3, 1, 9, 15, 30, tzinfo=UTC)
    assert ours.not_after == datetime(2049, 3, 1, 9, 15, 30, tzinfo=UTC)
    filetime_1970 = (ours.not_before - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()
    assert ours.serial == int(filetime_1970 * 10**7) + 2_500_000  # + CREATED's 0.25 s
    year_1970 = range(116444736000000000, 116444736000000000 + 366 * 86400 * 10**7)
    assert ours.serial in year_1970 and theirs.serial in year_1970  # both 1970 FILETIMEs
    assert ours.signature_algorithm == OID_SHA1_RSA_OIW
    assert ours.public_key == license_server.private_key.public


def test_terminal_server_certificate_like_windows(license_server: LicenseServerIdentity) -> None:
    """Our terminal-server certificate has 4.1's extensions, name types, key OID and end date."""
    key = generate_rsa_key(1024, seeded(11).randbytes)
    der = build_terminal_server_certificate(
        license_server, key.public, server_name="WIN-TESTLS00001", hwid=HWID, issued=CREATED
    )
    ours = parse_certificate(der)
    theirs = parse_certificate(_spec_41_certificates()[1])
    assert _shape(der) == _shape(theirs.der)
    assert _attribute_types(ours.subject) == _attribute_types(theirs.subject)
    assert ours.subject_attributes[:2] == (
        ("2.5.4.3", "ncalrpc:WIN-TEST"),
        ("2.5.4.7", "ncalrpc:WIN-TESTLS00001"),
    )
    serial = ours.subject_attribute("2.5.4.5")
    assert serial is not None and serial.endswith("\r\n")
    assert decode_hwid_serial(serial) == HWID
    assert ours.key_algorithm == OID_RSA_OIW
    assert ours.not_before == CREATED.replace(microsecond=0)
    assert ours.not_after == TERMINAL_SERVER_NOT_AFTER
    assert ours.serial == theirs.serial == 0x0100000002
    info_raw = ours.extension("1.3.6.1.4.1.311.18.6")
    assert info_raw is not None
    info = LicenseServerInfo.decode(info_raw)
    assert (info.issuer_name, info.scope) == ("WIN-TESTLS00001", "WORKGROUP")
    product_raw = ours.extension("1.3.6.1.4.1.311.18.5")
    assert product_raw is not None
    product = LicensedProductInfo.decode(product_raw)
    assert product.platform_id == 2
    assert product.requested_product_id == "3d267954-eeb7-11d1-b94e-00c04fa3080d"
    aki = ours.extension("2.5.29.35")
    assert aki is not None and "WIN-TESTLS00001\0".encode("utf-16-le") in aki
    chain = build_x509_chain([license_server.certificate, der])
    assert chain[:8] == bytes.fromhex("0200008002000000")
    assert chain.endswith(bytes(16))
    assert verify_x509_chain(chain) == key.public


def test_chain_from_another_license_server_fails(
    license_server: LicenseServerIdentity, other_license_server: LicenseServerIdentity
) -> None:
    """A terminal-server certificate under someone else's license-server certificate fails."""
    key = generate_rsa_key(512, seeded(12).randbytes)
    der = build_terminal_server_certificate(
        other_license_server, key.public, server_name="X", hwid=HWID, issued=CREATED
    )
    with pytest.raises(CertificateError):
        verify_x509_chain(build_x509_chain([license_server.certificate, der]))


def test_chain_with_tampered_root_fails(license_server: LicenseServerIdentity) -> None:
    """A self-signed root whose signature does not verify fails the chain."""
    der = bytearray(license_server.certificate)
    der[-5] ^= 0x01
    with pytest.raises(CertificateError):
        verify_x509_chain(build_x509_chain([bytes(der)]))


def test_server_certificate_verdict_is_kept_per_exact_bytes(
    license_server: LicenseServerIdentity,
) -> None:
    """verify_server_certificate gives the same key again for the same bytes, still refuses
    a changed chain after the good one was seen, and takes a bytearray."""
    key = generate_rsa_key(512, seeded(13).randbytes)
    der = build_terminal_server_certificate(
        license_server, key.public, server_name="SRV", hwid=HWID, issued=CREATED
    )
    chain = build_x509_chain([license_server.certificate, der])
    assert verify_server_certificate(chain) == verify_server_certificate(chain) == key.public
    assert verify_server_certificate(bytearray(chain)) == key.public  # type: ignore[arg-type]
    tampered = bytearray(chain)
    tampered[-40] ^= 0x01
    for _ in range(2):
        with pytest.raises(CertificateError):
            verify_server_certificate(bytes(tampered))


def test_builders_need_aware_dates(license_server: LicenseServerIdentity) -> None:
    """Naive datetimes are refused: certificates are dated in UTC."""
    with pytest.raises(CertificateError):
        build_license_server_certificate(
            license_server.private_key, name="A", scope="B", created=datetime(2024, 1, 1)
        )


def test_leap_day_creation() -> None:
    """A license server set up on 29 February gets 28 February in 1970 and 2049."""
    key = generate_rsa_key(512, seeded(13).randbytes)
    der = build_license_server_certificate(
        key, name="A", scope="B", created=datetime(2024, 2, 29, tzinfo=UTC)
    )
    assert parse_certificate(der).not_before == datetime(1970, 2, 28, tzinfo=UTC)


def test_proprietary_certificate_is_not_a_chain() -> None:
    """verify_x509_chain refuses a proprietary certificate."""
    from crypto_vectors import windows_proprietary_certificate

    with pytest.raises(CertificateError):
        verify_x509_chain(windows_proprietary_certificate())


def test_chain_size_limits() -> None:
    """build_x509_chain refuses an empty chain and more than 200 certificates."""
    with pytest.raises(CertificateError):
        build_x509_chain([])
    with pytest.raises(CertificateError):
        build_x509_chain([b"\x30\x00"] * 201)


_CHAIN = spec_41_server_certificate()
_LEAF_START = 8 + 4 + len(_spec_41_certificates()[0]) + 4


@settings(max_examples=200, deadline=None)
@given(index=st.integers(_LEAF_START, len(_CHAIN) - 17), flip=st.integers(1, 255))
def test_any_changed_leaf_byte_is_detected(index: int, flip: int) -> None:
    """Changing any byte of 4.1's terminal-server certificate fails with CertificateError.

    (The first certificate has no trust anchor: when it is not self-issued, as
    for an activated license server, nothing can authenticate it.)
    """
    changed = bytearray(_CHAIN)
    changed[index] ^= flip
    try:
        verify_x509_chain(bytes(changed))
    except CertificateError:
        return
    # A change inside a length field can only shift bytes; it must never verify silently.
    raise AssertionError(f"byte {index} changed and the chain still verified")


@settings(max_examples=300, deadline=None)
@given(certificates=st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_garbage_chains_raise_only_certificate_error(certificates: list[bytes]) -> None:
    """Any bytes as certificates end in CertificateError, never another exception."""
    data = struct.pack("<II", 0x80000002, len(certificates)) + b"".join(
        struct.pack("<I", len(c)) + c for c in certificates
    )
    for check in (verify_x509_chain, public_key_from_server_certificate):
        with pytest.raises(CertificateError):
            check(data)
