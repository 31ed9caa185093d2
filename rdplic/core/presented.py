"""Reading the license a client presents in CLIENT_LICENSE_INFO (MS-RDPELE 3.2.5.3).

The host validates a presented license itself before it asks anyone: the
license server's signature, that the bytes are as issued, the product, and
that it was issued to the hardware id the client just sent (R65).  This
module turns `rdplic.crypto.validate_license`'s verdict into the license
service's `PresentedLicense`; whether it then needs an upgrade (temporary,
expiring within 7 days, older version, or not valid) is the service's
decision (R39).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from rdplic.core.decisions import PresentedLicense, ProductInfo, ProductVersion, ValidationStatus
from rdplic.crypto.errors import CryptoError
from rdplic.crypto.license import LicenseCheck, LicenseStatus, parse_license, validate_license

__all__ = ["Presented", "read_presented_license"]


class Presented(NamedTuple):
    """A presented license as the license server sees it, and the client names in it."""

    license: PresentedLicense
    machine_name: str
    user_name: str


_VALIDATION = {
    LicenseStatus.VALID: ValidationStatus.VALID,
    LicenseStatus.FOREIGN: ValidationStatus.BAD_SIGNATURE,
    LicenseStatus.TAMPERED: ValidationStatus.BAD_SIGNATURE,
    LicenseStatus.MALFORMED: ValidationStatus.BAD_FORMAT,
}


def _check(blob: bytes, issuer_certificate: bytes | None) -> LicenseCheck:
    if issuer_certificate is not None:
        return validate_license(blob, issuer_certificate)
    # No license server of our own: whatever parses is someone else's.
    try:
        parsed = parse_license(blob)
    except CryptoError as error:
        return LicenseCheck(LicenseStatus.MALFORMED, None, str(error))
    return LicenseCheck(LicenseStatus.FOREIGN, parsed, "this host has no license server")


def read_presented_license(
    blob: bytes,
    hwid: bytes,
    product: ProductInfo,
    issuer_certificate: bytes | None,
    now: datetime,
) -> Presented:
    """What the host makes of ``blob``, presented with the decrypted ``hwid`` at ``now``.

    Never raises: a blob that is not a license becomes a BAD_FORMAT
    `PresentedLicense` (issued and expiring ``now``), which the license server
    treats as a license needing an upgrade, as MS-RDPELE 3.2.5.3 case 2 says.
    """
    check = _check(blob, issuer_certificate)
    parsed = check.license
    if parsed is None:
        unreadable = PresentedLicense(
            license_id=0,
            hwid=b"",
            product_version=ProductVersion(0, 0),
            temporary=True,
            issued=now,
            expires=now,
            issuer_matches=False,
            validation=ValidationStatus.BAD_FORMAT,
            blob=blob,
            verdict=check.status.name.lower(),
        )
        return Presented(unreadable, "", "")
    validation = _VALIDATION[check.status]
    if validation is ValidationStatus.VALID:
        if parsed.hwid != hwid:
            validation = ValidationStatus.HWID_MISMATCH
        elif parsed.product_id != product.product_id or parsed.company != product.company_name:
            validation = ValidationStatus.WRONG_PRODUCT
    presented = PresentedLicense(
        license_id=parsed.license_id,
        hwid=parsed.hwid,
        product_version=ProductVersion(parsed.product_major, parsed.product_minor),
        temporary=parsed.temporary,
        issued=parsed.issued,
        expires=parsed.expires,
        issuer_matches=check.status in {LicenseStatus.VALID, LicenseStatus.TAMPERED},
        validation=validation,
        blob=blob,
        verdict=check.status.name.lower(),
    )
    return Presented(presented, parsed.client_machine_name, parsed.client_user_name)
