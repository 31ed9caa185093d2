"""Licenses written and checked as DER directly give what asn1crypto gives, byte for byte.

`issue_license` writes DER with `rdplic.crypto.asn1.der_*` and `validate_license` answers
a license of its own server by splitting and rewriting it; the references here are the
asn1crypto constructions they replaced and the general validation path.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core
from crypto_helpers import CREATED, make_license_server
from crypto_vectors import spec_43_license
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import LicenseFields, LicenseServerIdentity, LicenseStatus, asn1, hydra, license
from rdplic.crypto.license import issue_license, validate_license
from rdplic.crypto.x509 import (
    _authority_key_identifier,
    _critical,
    _sha1_rsa,
    parse_certificate,
)

_ISSUER = make_license_server(5, bits=512)
_OTHER = make_license_server(6, bits=512)
_FIELDS = LicenseFields(
    license_id=0x0300000011,
    hwid=b"\x02\x00\x00\x00" + bytes(range(16)),
    client_machine_name="DERCLIENT",
    client_user_name="bob",
    product_major=10,
    product_minor=1,
    temporary=False,
    issued=CREATED,
    expires=CREATED + timedelta(days=60),
)


def reference_issue(issuer: LicenseServerIdentity, fields: LicenseFields) -> bytes:
    """The license as rdplic built it with asn1crypto objects before the DER writer."""
    server = parse_certificate(issuer.certificate)
    product = hydra.LicensedProductInfo(
        platform_id=fields.platform_id,
        language_id=fields.language_id,
        requested_product_id=fields.product_id,
        adjusted_product_id=fields.adjusted_product_id,
        version_info=(
            hydra.LicensedVersionInfo(
                fields.product_major, fields.product_minor, fields.license_flags
            ),
        ),
    )
    server_info = hydra.LicenseServerInfo(
        issuer_name=issuer.name, issuer_id=issuer.product_id, scope=issuer.scope
    )
    subject = asn1.build_name(
        (asn1.OID_COMMON_NAME, fields.client_machine_name),
        (asn1.OID_LOCALITY, fields.client_user_name),
        (asn1.OID_SERIAL_NUMBER, hydra.encode_hwid_serial(fields.hwid)),
    )
    tbs = asn1.TbsCertificate(
        {
            "version": "v3",
            "serial_number": fields.license_id,
            "signature": _sha1_rsa(),
            "issuer": asn1.Name.load(server.subject),
            "validity": {
                "not_before": asn1.time_value(fields.issued),
                "not_after": asn1.time_value(fields.expires),
            },
            "subject": subject,
            "subject_public_key_info": asn1.SubjectPublicKeyInfo.load(server.spki),
            "extensions": [
                _critical(hydra.OID_CERT_VERSION, hydra.HYDRA_CERT_VERSION.to_bytes(4, "little")),
                _critical(hydra.OID_MANUFACTURER, hydra.utf16z(fields.company)),
                _critical(hydra.OID_PRODUCT_SPECIFIC_9, (7).to_bytes(4, "little")),
                _critical(hydra.OID_LICENSED_PRODUCT_INFO, product.encode()),
                _critical(hydra.OID_LICENSE_SERVER_INFO, server_info.encode()),
                _critical(
                    asn1.OID_AUTHORITY_KEY_IDENTIFIER,
                    _authority_key_identifier(issuer.name, fields.license_id),
                ),
            ],
        }
    )
    tbs_der = tbs.dump()
    key = issuer.private_key.to_cryptography()
    certificate = asn1.Certificate(
        {
            "tbs_certificate": asn1.TbsCertificate.load(tbs_der),
            "signature_algorithm": _sha1_rsa(),
            "signature_value": key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1()),
        }
    )
    signed = asn1.SignedData.certificates_only([issuer.certificate, certificate.dump()])
    info = asn1.ContentInfo({"content_type": asn1.OID_PKCS7_SIGNED_DATA, "content": signed})
    return bytes(info.dump())


def general_validate(blob: bytes, issuer_certificate: bytes) -> license.LicenseCheck:
    """`validate_license` without its fast path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(license, "_validate_ours", lambda blob, issuer: None)
        return validate_license(blob, issuer_certificate)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**80), 2**80))
def test_der_integer_is_asn1crypto_integer(value: int) -> None:
    """der_integer writes INTEGER exactly as asn1crypto does, negative values included."""
    assert asn1.der_integer(value) == core.Integer(value).dump()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=8), st.integers(0, 2))
def test_der_oid_is_asn1crypto_oid(arcs: list[int], first: int) -> None:
    """der_oid writes OBJECT IDENTIFIER exactly as asn1crypto does."""
    second = arcs[0] if first == 2 else arcs[0] % 40
    dotted = ".".join(str(a) for a in [first, second, *arcs[1:]])
    assert asn1.der_oid(dotted) == core.ObjectIdentifier(dotted).dump()


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_der_time_is_time_value(moment: datetime) -> None:
    """der_time writes what time_value writes, UTCTime or GeneralizedTime, any year."""
    assert asn1.der_time(moment) == asn1.time_value(moment).dump()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=4))
def test_der_name_is_build_name(values: list[str]) -> None:
    """der_name writes the Name build_name makes (BMPString attributes, any text, any length)."""
    oids = [asn1.OID_COMMON_NAME, asn1.OID_LOCALITY, asn1.OID_SERIAL_NUMBER, "2.5.4.10"]
    pairs = list(zip(oids, values, strict=False))
    expected = asn1.build_name(*pairs).dump()
    assert asn1.der_name(*((asn1.der_oid(oid), value) for oid, value in pairs)) == expected


def test_der_read_refuses_what_does_not_fit() -> None:
    """der_read: truncated elements, bad lengths and multi-byte tags are ValueError."""
    for data in (b"", b"\x30", b"\x30\x05\x00", b"\x30\x80", b"\x30\x85\x00\x00\x00\x00\x01"):
        with pytest.raises(ValueError):
            asn1.der_read(data, 0, len(data))
    with pytest.raises(ValueError):
        asn1.der_read(b"\x1f\x01\x00", 0, 3)
    assert asn1.der_read(b"\x04\x81\x01\xaa", 0, 4) == (4, 3, 4)


_names = st.text(max_size=40).map(lambda text: text.replace("\x00", ""))


@settings(max_examples=60, deadline=None)
@given(
    machine=_names,
    user=_names,
    hwid=st.binary(min_size=20, max_size=20),
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
    temporary=st.booleans(),
    issued=st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
    days=st.integers(1, 40000),
    serial=st.integers(1, 2**70),
    company=st.sampled_from([hydra.MANUFACTURER, "", "Contoso"]),
    platform=st.integers(0, 0xFFFFFFFF),
)
def test_issue_license_is_the_asn1crypto_license(
    machine: str,
    user: str,
    hwid: bytes,
    major: int,
    minor: int,
    temporary: bool,
    issued: datetime,
    days: int,
    serial: int,
    company: str,
    platform: int,
) -> None:
    """issue_license gives the asn1crypto-built license byte for byte, and validation of it
    (fast path) gives what the general path gives."""
    fields = replace(
        _FIELDS,
        license_id=serial,
        hwid=hwid,
        client_machine_name=machine,
        client_user_name=user,
        product_major=major,
        product_minor=minor,
        temporary=temporary,
        issued=issued,
        expires=issued + timedelta(days=days),
        company=company,
        platform_id=platform,
    )
    blob = issue_license(_ISSUER, fields)
    assert blob == reference_issue(_ISSUER, fields)
    fast = validate_license(blob, _ISSUER.certificate)
    assert fast == general_validate(blob, _ISSUER.certificate)
    assert fast.status is LicenseStatus.VALID


def test_fast_path_answers_our_licenses_only() -> None:
    """Our own license is answered by the fast path; another server's or Windows' is not."""
    ours = issue_license(_ISSUER, _FIELDS)
    assert license._validate_ours(ours, _ISSUER.certificate) is not None
    assert license._validate_ours(issue_license(_OTHER, _FIELDS), _ISSUER.certificate) is None
    windows = spec_43_license()
    issuer = license.parse_license(windows).issuer_certificate
    assert issuer is not None
    assert license._validate_ours(windows, issuer) is None
    assert validate_license(windows, issuer).status is LicenseStatus.VALID
    assert license._validate_ours(bytearray(ours), _ISSUER.certificate) is None


def test_resigned_license_falls_back_and_is_tampered() -> None:
    """Our bytes signed with another key: the fast path declines, the verdict is TAMPERED."""
    forged = replace(_OTHER, certificate=_ISSUER.certificate)
    blob = issue_license(forged, _FIELDS)
    assert license._validate_ours(blob, _ISSUER.certificate) is None
    assert validate_license(blob, _ISSUER.certificate).status is LicenseStatus.TAMPERED


_OURS = issue_license(_ISSUER, _FIELDS)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(_OURS) - 1), flip=st.integers(1, 255))
def test_changed_byte_same_verdict_both_ways(index: int, flip: int) -> None:
    """With any byte changed, validate_license says exactly what the general path says."""
    changed = bytearray(_OURS)
    changed[index] ^= flip
    blob = bytes(changed)
    assert validate_license(blob, _ISSUER.certificate) == general_validate(
        blob, _ISSUER.certificate
    )


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(_OURS)), junk=st.binary(max_size=8))
def test_cut_or_spliced_same_verdict_both_ways(cut: int, junk: bytes) -> None:
    """Cut short or with bytes added, validate_license says what the general path says."""
    blob = _OURS[:cut] + junk
    assert validate_license(blob, _ISSUER.certificate) == general_validate(
        blob, _ISSUER.certificate
    )
