"""Helpers for the license service tests: a fake signer, simulated devices, a harness."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rdplic.licensing import (
    ClientIdentity,
    DecisionKind,
    FixedClock,
    IssuedLicense,
    LicenseAdmin,
    LicenseFields,
    LicensePolicy,
    PresentedLicense,
    Ruling,
)

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class FakeSigner:
    """Deterministic blobs that say what they are; records every call."""

    def __init__(self) -> None:
        self.calls: list[LicenseFields] = []

    def sign(self, fields: LicenseFields) -> bytes:
        self.calls.append(fields)
        kind = "T" if fields.temporary else "P"
        text = (
            f"LIC|{fields.license_id}|{kind}|{fields.product_major}.{fields.product_minor}"
            f"|{fields.hwid.hex()}|{fields.expires.isoformat()}"
        )
        return text.encode()


def hwid_for(name: str, platform: int = 2) -> bytes:
    """A CLIENT_HARDWARE_ID as rdesktop builds it: PlatformId 2 + MD5 of the host name."""
    return struct.pack("<I", platform) + hashlib.md5(name.encode()).digest()


def presented(lic: IssuedLicense, blob: bytes, **changes: object) -> PresentedLicense:
    """What the licensing core would hand in for a stored license."""
    base = PresentedLicense(
        license_id=lic.license_id,
        hwid=lic.hwid,
        product_version=lic.product_version,
        temporary=lic.temporary,
        issued=lic.issued,
        expires=lic.expires,
        blob=blob,
    )
    if not changes:
        return base
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class Device:
    """A simulated client that keeps its license store like Windows does (R72)."""

    identity: ClientIdentity
    stored: PresentedLicense | None = None

    @classmethod
    def named(cls, name: str, user: str = "alice", platform_id: int = 0x04010000) -> Device:
        return cls(ClientIdentity(hwid_for(name), name.upper(), user, platform_id))

    def wipe_store(self, new_name: str | None = None) -> None:
        """Delete the whole MSLicensing key: license and HWID are gone (R73)."""
        name = new_name or self.identity.machine_name.lower() + "-new"
        self.identity = ClientIdentity(
            hwid_for(name),
            self.identity.machine_name,
            self.identity.user_name,
            self.identity.platform_id,
        )
        self.stored = None


class Harness:
    """The licensing core's questions, one connection at a time, with a clock; and the
    administration of the same store."""

    def __init__(self, policy: LicensePolicy, clock: FixedClock, signer: FakeSigner) -> None:
        self.policy = policy
        self.admin = LicenseAdmin(policy.store)
        self.clock = clock
        self.signer = signer

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, days: float) -> None:
        self.clock.advance(timedelta(days=days))

    def connect(self, device: Device) -> Ruling:
        """One connection: New License Request or License Info (+ challenge), as the core does."""
        if device.stored is None:
            decision = self.policy.request_new_license(device.identity, self.now)
        else:
            decision = self.policy.evaluate_presented(device.identity, device.stored, self.now)
            if decision.kind is DecisionKind.PLATFORM_CHALLENGE:
                decision = self.policy.present_license(device.identity, device.stored, self.now)
        if decision.kind in (DecisionKind.ISSUE_NEW, DecisionKind.UPGRADE) and decision.license:
            device.stored = presented(decision.license, decision.blob)
        return decision


HarnessFactory = Callable[..., Harness]
"""The type of the ``make_harness`` fixture (tests/licensing/conftest.py)."""
