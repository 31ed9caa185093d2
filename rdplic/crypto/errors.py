"""The error type of `rdplic.crypto`.

Every function of the package that is given bytes it cannot use (a wrong
size, a bad signature, a certificate it cannot parse) raises `CryptoError`
or a subclass; nothing else escapes for bad input.  Callers in the licensing
core map it to the licensing error PDU Windows would send.
"""

from __future__ import annotations

from rdplic.errors import RdplicError

__all__ = ["CertificateError", "CryptoError", "LicenseFormatError"]


class CryptoError(RdplicError):
    """Bytes that a cryptographic operation cannot accept (size, range, signature)."""


class CertificateError(CryptoError):
    """A server certificate (proprietary or X.509 chain) that cannot be parsed or verified."""


class LicenseFormatError(CryptoError):
    """A license (pbLicenseInfo) that is not the PKCS#7 certificate bag Windows issues."""
