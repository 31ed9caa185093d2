"""Licenses as Windows issues them: parse real ones, issue ours, validate both.

Real licenses: MS-RDPELE 4.3 (= 4.6) from tests/data/rdpele, a Windows
Server 2019 license (IronRDP), a license from redemption's tests whose
hardware id is known (tests/data/crypto/README.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from hashlib import md5

import pytest
from crypto_helpers import CREATED, make_license_server
from crypto_vectors import CRYPTO, hex_file, json_file, new_license_info_license, spec_43_license
from hypothesis import given, settings
from hypothesis import strategies as st

from rdplic.crypto import (
    LicenseFields,
    LicenseFormatError,
    LicenseServerIdentity,
    LicenseStatus,
    issue_license,
    parse_license,
    rc4,
    validate_license,
)
from rdplic.crypto.x509 import parse_certificate

UTC_ = UTC


def windows_2019_license() -> bytes:
    vector = json_file(CRYPTO / "ironrdp-rc4-mac-vectors.json")["upgrade_license"]
    encrypted = hex_file(CRYPTO / vector["encrypted_license_info"])
    return new_license_info_license(
        rc4(bytes.fromhex(vector["licensing_encryption_key"]), encrypted)
    )


REDEMPTION = hex_file(CRYPTO / "redemption-windows-license.hex")
SPEC_43 = spec_43_license()
WINDOWS_2019 = windows_2019_license()

FIELDS = LicenseFields(
    license_id=0x0300000007,
    hwid=bytes.fromhex("00000104") + md5(b"ubuntu2").digest(),
    client_machine_name="ubuntu2",
    client_user_name="alice",
    product_major=10,
    product_minor=1,
    temporary=True,
    issued=CREATED,
    expires=CREATED + timedelta(days=90),
)


def test_spec_43_license_fields() -> None:
    """The Windows license of MS-RDPELE 4.3 decodes to its annotated values."""
    parsed = parse_license(SPEC_43)
    assert parsed.license_id == 0x030000000F
    assert parsed.client_machine_name == "RODENT"
    assert parsed.client_user_name == "Administrator"
    assert (parsed.product_id, parsed.adjusted_product_id) == ("A02", "A02-6.00-S")
    assert (parsed.product_major, parsed.product_minor) == (6, 0)
    assert parsed.temporary and parsed.license_flags == 0x80648000
    assert parsed.platform_id == 0xFF and parsed.language_id == 0x400
    assert parsed.company == "Microsoft Corporation"
    assert parsed.issued == datetime(2007, 6, 20, 14, 51, 35, tzinfo=UTC)
    assert parsed.expires == datetime(2007, 9, 18, 14, 51, 35, tzinfo=UTC)  # 90 days
    assert (parsed.issuer_name, parsed.issuer_scope) == ("RODENT", "WORKGROUP")
    assert parsed.issuer_id == "78440-006-5867045-70347"
    assert parsed.certificate_count == 2


def test_spec_43_hwid_is_the_one_of_spec_45() -> None:
    """The 4.3 license's serialNumber decodes to the hardware id MS-RDPELE 4.5 shows decrypted."""
    from crypto_vectors import RDPELE

    expected = hex_file(RDPELE / "4.5-client-hardware-id-decrypted.hex")
    assert parse_license(SPEC_43).hwid == expected


def test_redemption_license_hwid_is_known() -> None:
    """redemption's Windows license decodes to the hardware id redemption sent (2, "CLT02")."""
    parsed = parse_license(REDEMPTION)
    assert parsed.hwid == b"\x02\x00\x00\x00" + b"CLT02".ljust(16, b"\x00")
    assert (parsed.client_machine_name, parsed.client_user_name) == ("CLT02", "Tester@RED")
    assert (parsed.issuer_name, parsed.issuer_scope) == ("DC01", "RED")
    assert (parsed.product_major, parsed.product_minor, parsed.temporary) == (6, 2, False)


def test_windows_2019_license_fields() -> None:
    """The Windows Server 2019 license (4 certificates, Microsoft-issued chain) decodes."""
    parsed = parse_license(WINDOWS_2019)
    assert parsed.certificate_count == 4
    assert parsed.hwid == bytes.fromhex("00000104") + md5(b"ubuntu2").digest()  # FreeRDP's
    assert (parsed.product_major, parsed.product_minor, parsed.temporary) == (10, 1, True)
    assert parsed.adjusted_product_id == "A02-10.01-S"
    assert parsed.issuer_name == "WIN-4L4L6AMBCSQ" and parsed.issuer_common_name == "Becker"
    assert parsed.expires - parsed.issued == timedelta(days=90)


@pytest.mark.parametrize("blob", [SPEC_43, REDEMPTION, WINDOWS_2019], ids=["4.3", "red", "2019"])
def test_windows_licenses_validate_against_their_issuer(blob: bytes) -> None:
    """Each Windows license is VALID for its own license server and FOREIGN for ours."""
    parsed = parse_license(blob)
    assert parsed.issuer_certificate is not None
    assert validate_license(blob, parsed.issuer_certificate).status is LicenseStatus.VALID
    ours = make_license_server(3, bits=512)
    check = validate_license(blob, ours.certificate)
    assert check.status is LicenseStatus.FOREIGN
    assert check.license == parsed


def test_issue_parse_validate_round_trip(license_server: LicenseServerIdentity) -> None:
    """A license we issue parses back to the same fields and is VALID for us."""
    blob = issue_license(license_server, FIELDS)
    parsed = parse_license(blob)
    whole = CREATED.replace(microsecond=0)  # certificates hold whole seconds
    assert parsed.fields() == replace(FIELDS, issued=whole, expires=whole + timedelta(days=90))
    assert parsed.issuer_name == license_server.name
    assert parsed.issuer_id == license_server.product_id
    assert parsed.adjusted_product_id == "A02-10.01-S"
    assert parsed.license_flags == 0x80808000
    check = validate_license(blob, license_server.certificate)
    assert (check.status, check.license) == (LicenseStatus.VALID, parsed)


def test_permanent_license_flags(license_server: LicenseServerIdentity) -> None:
    """A permanent license carries RTM | enforced without TEMPORARY_LICENSE."""
    blob = issue_license(license_server, replace(FIELDS, temporary=False))
    parsed = parse_license(blob)
    assert not parsed.temporary and parsed.license_flags == 0x00808000


def test_issued_license_is_shaped_like_windows(license_server: LicenseServerIdentity) -> None:
    """Our license has the structure of the 2019 one: envelope, order, names, extensions, key."""
    ours = parse_license(issue_license(license_server, FIELDS))
    theirs = parse_license(WINDOWS_2019)
    cal, windows_cal = (parse_certificate(p.license_certificate) for p in (ours, theirs))
    assert [(o, c) for o, c, _ in cal.extensions] == [(o, c) for o, c, _ in windows_cal.extensions]
    assert [o for o, _ in cal.subject_attributes] == [o for o, _ in windows_cal.subject_attributes]
    assert cal.signature_algorithm == windows_cal.signature_algorithm == "1.3.14.3.2.29"
    assert cal.spki == parse_certificate(license_server.certificate).spki  # the server's key
    aki = cal.extension("2.5.29.35")
    assert aki is not None and aki.endswith(b"\x82\x05\x03\x00\x00\x00\x07")  # its own serial
    blob = issue_license(license_server, FIELDS)
    assert blob[:2] == b"\x30\x82" and blob.find(license_server.certificate) < blob.find(cal.der)


def test_license_from_another_server_with_the_same_name(
    license_server: LicenseServerIdentity, other_license_server: LicenseServerIdentity
) -> None:
    """A license from another rdplic installation with the same name is FOREIGN, not VALID."""
    blob = issue_license(other_license_server, FIELDS)
    check = validate_license(blob, license_server.certificate)
    assert check.status is LicenseStatus.FOREIGN
    assert check.license is not None and check.license.client_machine_name == "ubuntu2"


def test_resigned_with_another_key_is_tampered(
    license_server: LicenseServerIdentity, other_license_server: LicenseServerIdentity
) -> None:
    """Our certificate, but the license certificate signed by another key: TAMPERED."""
    forged_issuer = replace(other_license_server, certificate=license_server.certificate)
    blob = issue_license(forged_issuer, FIELDS)
    assert validate_license(blob, license_server.certificate).status is LicenseStatus.TAMPERED


def test_envelope_change_is_tampered(license_server: LicenseServerIdentity) -> None:
    """Changing the unsigned PKCS#7 version number of our license makes it TAMPERED."""
    blob = bytearray(issue_license(license_server, FIELDS))
    version = blob.index(b"\x02\x01\x01")
    blob[version + 2] = 3
    assert validate_license(bytes(blob), license_server.certificate).status is (
        LicenseStatus.TAMPERED
    )


@pytest.mark.parametrize(
    "change",
    [
        {"hwid": b"short"},
        {"license_id": 0},
        {"expires": CREATED},
        {"issued": datetime(2024, 1, 1)},
    ],
)
def test_issue_rejects_bad_fields(license_server: LicenseServerIdentity, change: dict) -> None:
    """A hardware id not of 20 bytes, serial 0, expiry not after issue, naive date: refused."""
    with pytest.raises(LicenseFormatError):
        issue_license(license_server, replace(FIELDS, **change))


def test_dates_after_2049_use_generalized_time(license_server: LicenseServerIdentity) -> None:
    """A license expiring after 2049 still round-trips (GeneralizedTime, RFC 5280)."""
    late = datetime(2051, 6, 1, tzinfo=UTC)
    blob = issue_license(license_server, replace(FIELDS, expires=late))
    assert parse_license(blob).expires == late


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x30\x00", b"garbage", SPEC_43[:100], SPEC_43 + b"\x00", bytes(70000)],
    ids=["empty", "empty-seq", "text", "truncated", "trailing", "huge"],
)
def test_malformed_licenses(blob: bytes, license_server: LicenseServerIdentity) -> None:
    """Non-licenses raise LicenseFormatError from parse and get MALFORMED from validate."""
    with pytest.raises(LicenseFormatError):
        parse_license(blob)
    check = validate_license(blob, license_server.certificate)
    assert check.status is LicenseStatus.MALFORMED and check.license is None


def test_a_certificate_alone_is_not_a_license(license_server: LicenseServerIdentity) -> None:
    """A bare DER certificate (not PKCS#7) is MALFORMED."""
    check = validate_license(license_server.certificate, license_server.certificate)
    assert check.status is LicenseStatus.MALFORMED


def test_validate_never_raises_on_wrong_types(license_server: LicenseServerIdentity) -> None:
    """validate_license gives a verdict even for non-bytes arguments."""
    assert validate_license(None, license_server.certificate).status is LicenseStatus.MALFORMED  # type: ignore[arg-type]
    assert validate_license(SPEC_43, b"junk").status is LicenseStatus.MALFORMED


_ISSUER = make_license_server(4, bits=512)
_OURS = issue_license(_ISSUER, FIELDS)


@settings(max_examples=250, deadline=None)
@given(index=st.integers(0, len(_OURS) - 1), flip=st.integers(1, 255))
def test_any_changed_byte_is_detected(index: int, flip: int) -> None:
    """Changing any single byte of a license we issued makes it anything but VALID."""
    changed = bytearray(_OURS)
    changed[index] ^= flip
    check = validate_license(bytes(changed), _ISSUER.certificate)
    assert check.status is not LicenseStatus.VALID


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=600))
def test_garbage_is_malformed(blob: bytes) -> None:
    """Arbitrary bytes are MALFORMED (validate) and LicenseFormatError (parse), nothing else."""
    assert validate_license(blob, _ISSUER.certificate).status is LicenseStatus.MALFORMED
    with pytest.raises(LicenseFormatError):
        parse_license(blob)


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(_OURS) - 1), junk=st.binary(max_size=8))
def test_truncated_or_spliced_licenses(cut: int, junk: bytes) -> None:
    """A license cut short or with bytes spliced in never validates and never raises."""
    check = validate_license(_OURS[:cut] + junk, _ISSUER.certificate)
    assert check.status is not LicenseStatus.VALID


@settings(max_examples=50, deadline=None)
@given(
    machine=st.text(max_size=30),
    user=st.text(max_size=30),
    hwid=st.binary(min_size=20, max_size=20),
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
    temporary=st.booleans(),
    days=st.integers(1, 20000),
    serial=st.integers(1, 2**64),
)
def test_issue_round_trip_property(
    machine: str,
    user: str,
    hwid: bytes,
    major: int,
    minor: int,
    temporary: bool,
    days: int,
    serial: int,
) -> None:
    """Any names, hardware id, version, validity and serial survive issue then parse."""
    machine = machine.replace("\x00", "")
    user = user.replace("\x00", "")
    fields = replace(
        FIELDS,
        license_id=serial,
        hwid=hwid,
        client_machine_name=machine,
        client_user_name=user,
        product_major=major,
        product_minor=minor,
        temporary=temporary,
        issued=CREATED.replace(microsecond=0),
        expires=CREATED.replace(microsecond=0) + timedelta(days=days),
    )
    blob = issue_license(_ISSUER, fields)
    assert parse_license(blob).fields() == fields
    assert validate_license(blob, _ISSUER.certificate).status is LicenseStatus.VALID
