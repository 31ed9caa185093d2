"""Everything a license server and a client compute, as pure functions over bytes.

No I/O, no clock, no global randomness: random values and dates are
arguments (or an injected ``random_bytes`` source).  See MS-RDPELE 5.1 for
the licensing crypto, MS-RDPBCGR 5.3.3 for proprietary certificates and
``rdplic.crypto.license`` for licenses shaped like Windows'.
"""

from __future__ import annotations

from rdplic.crypto.errors import CertificateError, CryptoError, LicenseFormatError
from rdplic.crypto.license import (
    LicenseCheck,
    LicenseFields,
    LicenseServerIdentity,
    LicenseStatus,
    ParsedLicense,
    issue_license,
    parse_license,
    validate_license,
)
from rdplic.crypto.licensing import (
    LicensingKeys,
    derive_licensing_keys,
    mac_data,
    master_secret,
    rc4,
    session_key_blob,
    verify_mac,
)
from rdplic.crypto.proprietary import (
    TS_SIGNING_KEY,
    build_proprietary_certificate,
    verify_proprietary_certificate,
)
from rdplic.crypto.rsa import (
    RsaPrivateKey,
    RsaPublicKey,
    decrypt_premaster,
    dump_private_key,
    encrypt_premaster,
    generate_rsa_key,
    load_private_key,
    rsa_backend,
    rsa_decrypt_blob,
    rsa_encrypt_blob,
    rsa_private_op,
    rsa_public_op,
)
from rdplic.crypto.x509 import (
    build_license_server_certificate,
    build_terminal_server_certificate,
    build_x509_chain,
    public_key_from_server_certificate,
    verify_server_certificate,
    verify_x509_chain,
)

__all__ = [
    "TS_SIGNING_KEY",
    "CertificateError",
    "CryptoError",
    "LicenseCheck",
    "LicenseFields",
    "LicenseFormatError",
    "LicenseServerIdentity",
    "LicenseStatus",
    "LicensingKeys",
    "ParsedLicense",
    "RsaPrivateKey",
    "RsaPublicKey",
    "build_license_server_certificate",
    "build_proprietary_certificate",
    "build_terminal_server_certificate",
    "build_x509_chain",
    "decrypt_premaster",
    "derive_licensing_keys",
    "dump_private_key",
    "encrypt_premaster",
    "generate_rsa_key",
    "issue_license",
    "load_private_key",
    "mac_data",
    "master_secret",
    "parse_license",
    "public_key_from_server_certificate",
    "rc4",
    "rsa_backend",
    "rsa_decrypt_blob",
    "rsa_encrypt_blob",
    "rsa_private_op",
    "rsa_public_op",
    "session_key_blob",
    "validate_license",
    "verify_mac",
    "verify_proprietary_certificate",
    "verify_server_certificate",
    "verify_x509_chain",
]
