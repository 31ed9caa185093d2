"""The license server: key packs, issuance policy, issuance history and administration.

`LicenseService` (rdplic.licensing.service) is the entry point; the model types are
storage-independent (rdplic.licensing.model), time comes from an injected `Clock`
(rdplic.licensing.clock) and license blobs from an injected `LicenseSigner`
(rdplic.licensing.signer). The behaviour follows docs/license-server-behavior.md R1-R84.
"""

from __future__ import annotations

from rdplic.licensing.clock import Clock, FixedClock, SystemClock, format_duration, parse_duration
from rdplic.licensing.decision import Decision, DecisionKind
from rdplic.licensing.hostconfig import (
    FirstLicensePolicy,
    HostConfig,
    InvalidLicenseAction,
    LicensingMode,
    RefusalStyle,
)
from rdplic.licensing.model import (
    CalType,
    ClientIdentity,
    ErrorInfo,
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    LicensingErrorCode,
    LicensingProgram,
    PresentedLicense,
    ProductInfo,
    ProductVersion,
    StateTransition,
    ValidationStatus,
)
from rdplic.licensing.service import (
    LicenseService,
    RandomSource,
    RevocationQuotaExceeded,
    RevokeResult,
    TransferResult,
)
from rdplic.licensing.signer import CryptoLicenseSigner, DigestSigner, LicenseFields, LicenseSigner

__all__ = [
    "CalType",
    "ClientIdentity",
    "Clock",
    "CryptoLicenseSigner",
    "Decision",
    "DecisionKind",
    "DigestSigner",
    "ErrorInfo",
    "FirstLicensePolicy",
    "FixedClock",
    "HistoryEvent",
    "HistoryKind",
    "HostConfig",
    "InvalidLicenseAction",
    "IssuedLicense",
    "KeyPack",
    "KeyPackType",
    "LicenseFields",
    "LicenseService",
    "LicenseSigner",
    "LicenseStatus",
    "LicensingErrorCode",
    "LicensingMode",
    "LicensingProgram",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "RandomSource",
    "RefusalStyle",
    "RevocationQuotaExceeded",
    "RevokeResult",
    "StateTransition",
    "SystemClock",
    "TransferResult",
    "ValidationStatus",
    "format_duration",
    "parse_duration",
]
