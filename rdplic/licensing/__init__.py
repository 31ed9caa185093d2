"""The license server: key packs, issuance policy, issuance history and administration.

`LicensePolicy` (rdplic.licensing.policy) answers the licensing core's questions: what
each client gets, as a Windows session host and license server decide it
(docs/license-server-behavior.md, R1-R84).  `LicenseAdmin` (rdplic.licensing.admin) is
what an administrator does: key packs, revoke, transfer, reports, the host configuration
and the server's clock.  Both work on a `LicenseStore` (the contract in
rdplic.licensing.store, implemented by rdplic.store); time comes from an injected `Clock`
(rdplic.licensing.clock) and license blobs from an injected `LicenseSigner`
(rdplic.licensing.signer).  The value types exchanged with the licensing core
(`ClientIdentity`, `PresentedLicense`, `Decision`...) are the core's.
"""

from __future__ import annotations

from rdplic.core.decisions import Decision, DecisionKind, HostLicensing, Question
from rdplic.licensing.admin import (
    LicenseAdmin,
    RevocationQuotaExceeded,
    RevokeResult,
    TransferResult,
)
from rdplic.licensing.clock import Clock, FixedClock, SystemClock, format_duration, parse_duration
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
    HistoryEvent,
    HistoryKind,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    LicensingProgram,
    PresentedLicense,
    ProductInfo,
    ProductVersion,
    ValidationStatus,
)
from rdplic.licensing.policy import LicensePolicy, RandomSource
from rdplic.licensing.ruling import Ruling
from rdplic.licensing.signer import CryptoLicenseSigner, DigestSigner, LicenseFields, LicenseSigner
from rdplic.licensing.store import Durability, LicenseStore, StoreError

__all__ = [
    "CalType",
    "ClientIdentity",
    "Clock",
    "CryptoLicenseSigner",
    "Decision",
    "DecisionKind",
    "DigestSigner",
    "Durability",
    "FirstLicensePolicy",
    "FixedClock",
    "HistoryEvent",
    "HistoryKind",
    "HostConfig",
    "HostLicensing",
    "InvalidLicenseAction",
    "IssuedLicense",
    "KeyPack",
    "KeyPackType",
    "LicenseAdmin",
    "LicenseFields",
    "LicensePolicy",
    "LicenseSigner",
    "LicenseStatus",
    "LicenseStore",
    "LicensingMode",
    "LicensingProgram",
    "PresentedLicense",
    "ProductInfo",
    "ProductVersion",
    "Question",
    "RandomSource",
    "RefusalStyle",
    "RevocationQuotaExceeded",
    "RevokeResult",
    "Ruling",
    "StoreError",
    "SystemClock",
    "TransferResult",
    "ValidationStatus",
    "format_duration",
    "parse_duration",
]
