"""Reports in the forms Windows offers (R76, R77, R78).

One report covers both CAL types, as ``Win32_TSLicenseReport.GenerateReportEx`` does
from 2012 on: summary rows per product version and CAL type, one row per issued
per-device license, and the per-user CAL usage (R76) with the per-user CALs issued.
Column names follow the WMI classes (Win32_TSLicenseReportSummaryEntry,
Win32_TSLicenseReportPerDeviceEntry) so that a CSV reads like Windows'.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rdplic.licensing.hostconfig import HostConfig
from rdplic.licensing.model import (
    CalType,
    IssuedLicense,
    KeyPack,
    KeyPackType,
    LicenseStatus,
    ProductVersion,
    format_hwid,
)

__all__ = [
    "REPORT_COLUMNS",
    "REPORT_KINDS",
    "LicenseReport",
    "build_report",
    "cal_type_string",
    "iso",
]

REPORT_KINDS = ("all", "summary", "per-device", "per-user")


def iso(moment: datetime | None) -> str:
    """Timestamps in reports and JSON: ISO-8601 UTC with a Z, to the second."""
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cal_type_string(
    cal_type: CalType, version: ProductVersion, pack_type: KeyPackType | None
) -> str:
    """The CALType strings of Win32_TSLicenseReportPerDeviceEntry (R77)."""
    kind = "Per Device" if cal_type is CalType.PER_DEVICE else "Per User"
    if pack_type is KeyPackType.BUILT_IN:
        return "Built-in TS Per Device CAL"
    if version < ProductVersion(6, 1):
        name = f"TS {kind} CAL"
    elif version.generation == (6, 0):
        name = f"TS or RDS {kind} CAL"
    else:
        name = f"RDS {kind} CAL"
    if pack_type is KeyPackType.TEMPORARY:
        name = f"Temporary {name}"  # not a Windows string: temporary licenses are listed too [D]
    return name


@dataclass(frozen=True, slots=True)
class LicenseReport:
    generated: datetime
    host: str
    scope: str
    summary: list[dict[str, Any]]
    per_device: list[dict[str, Any]]
    per_user: list[dict[str, Any]]

    def to_dict(self, kind: str = "all") -> dict[str, Any]:
        out: dict[str, Any] = {
            "generated": iso(self.generated),
            "host": self.host,
            "scope": self.scope,
        }
        if kind in ("all", "summary"):
            out["summary"] = self.summary
        if kind in ("all", "per-device"):
            out["per_device"] = self.per_device
        if kind in ("all", "per-user"):
            out["per_user"] = self.per_user
            out["per_user_usage"] = _per_user_usage(self.summary)
        return out

    def to_csv(self, kind: str) -> str:
        """One kind (summary, per-device or per-user) as one CSV table with a header row, as
        ``csv.DictReader`` reads it: several tables in one file are no CSV any reader loads
        (issue 12), so "all" is refused."""
        tables = {"summary": self.summary, "per-device": self.per_device, "per-user": self.per_user}
        if kind not in tables:
            raise ValueError(f"a CSV file holds one table: {', '.join(tables)}, not {kind!r}")
        return _csv_table(tables[kind], _COLUMNS[kind])


_COLUMNS: dict[str, Sequence[str]] = {
    "summary": (
        "ProductVersion",
        "ProductVersionID",
        "TSCALType",
        "InstalledLicenses",
        "IssuedLicenses",
        "AvailableLicenses",
        "OverUsedLicenses",
        "TSCALAvailability",
    ),
    "per-device": (
        "LicenseId",
        "sIssuedToComputer",
        "sIssuedToUser",
        "sHardwareId",
        "IssueDate",
        "ExpirationDate",
        "LicenseStatus",
        "CALType",
        "ProductVersion",
        "ProductVersionID",
        "KeyPackId",
    ),
    "per-user": (
        "LicenseId",
        "User",
        "sIssuedToComputer",
        "IssueDate",
        "ExpirationDate",
        "CALType",
        "ProductVersion",
        "ProductVersionID",
        "KeyPackId",
    ),
}
REPORT_COLUMNS = _COLUMNS
"""The Windows column names of each kind's rows (Win32_TSLicenseReport*Entry, R76, R77)."""


def _csv_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buf.getvalue()


def _per_user_usage(summary: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The figures of the per-user "CAL Usage" report (R76)."""
    rows = [r for r in summary if r["TSCALType"] == "Per User"]
    return {
        "Per User CALs Installed": sum(int(r["InstalledLicenses"]) for r in rows),
        "Per User CALs Issued": sum(
            int(r["IssuedLicenses"]) + int(r["OverUsedLicenses"]) for r in rows
        ),
    }


def build_report(
    config: HostConfig,
    packs: Sequence[KeyPack],
    licenses: Sequence[IssuedLicense],
    now: datetime,
) -> LicenseReport:
    pack_by_id = {p.key_pack_id: p for p in packs}
    groups: dict[tuple[ProductVersion, CalType], dict[str, int]] = {}
    for pack in packs:
        if not pack.key_pack_type.purchased or pack.removed is not None:
            continue
        g = groups.setdefault(
            (pack.product_version, pack.cal_type), {"installed": 0, "issued": 0, "over": 0}
        )
        g["installed"] += pack.total or 0
        g["issued"] += pack.issued
    per_device: list[dict[str, Any]] = []
    per_user: list[dict[str, Any]] = []
    for lic in licenses:
        if not lic.status.outstanding:
            continue
        source = pack_by_id.get(lic.key_pack_id) if lic.key_pack_id is not None else None
        pack_type = source.key_pack_type if source else None
        cal = cal_type_string(lic.cal_type, lic.product_version, pack_type)
        if lic.cal_type is CalType.PER_USER and lic.status is LicenseStatus.ACTIVE:
            per_user.append(
                {
                    "LicenseId": lic.license_id,
                    "User": lic.user_name,
                    "sIssuedToComputer": lic.machine_name,
                    "IssueDate": iso(lic.issued),
                    "ExpirationDate": iso(lic.expires),
                    "CALType": cal,
                    "ProductVersion": lic.product_version.title,
                    "ProductVersionID": lic.product_version.product_version_id,
                    "KeyPackId": lic.key_pack_id,
                }
            )
            if lic.key_pack_id is None:
                key = (lic.product_version, CalType.PER_USER)
                g = groups.setdefault(key, {"installed": 0, "issued": 0, "over": 0})
                g["over"] += 1
        elif lic.cal_type is CalType.PER_DEVICE:
            per_device.append(
                {
                    "LicenseId": lic.license_id,
                    "sIssuedToComputer": lic.machine_name,
                    "sIssuedToUser": lic.user_name,
                    "sHardwareId": format_hwid(lic.hwid),
                    "IssueDate": iso(lic.issued),
                    "ExpirationDate": iso(lic.expires),
                    "LicenseStatus": lic.status.label,
                    "CALType": cal,
                    "ProductVersion": lic.product_version.title,
                    "ProductVersionID": lic.product_version.product_version_id,
                    "KeyPackId": lic.key_pack_id,
                }
            )
    summary = []
    for (version, cal_type), g in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
        available = g["installed"] - g["issued"]
        if cal_type is CalType.PER_USER and config.server_release.cal_version < ProductVersion(
            6, 0
        ):
            availability = "Not Tracking"  # 2003 did not even decrement per-user CALs (R58)
        elif g["over"]:
            availability = "Limited"  # per-user CALs handed out beyond the installed ones (R16) [D]
        elif available > 0:
            availability = "Available"
        else:
            availability = "None"
        summary.append(
            {
                "ProductVersion": version.title,
                "ProductVersionID": version.product_version_id,
                "TSCALType": "Per Device" if cal_type is CalType.PER_DEVICE else "Per User",
                "InstalledLicenses": g["installed"],
                "IssuedLicenses": g["issued"],
                "AvailableLicenses": available,
                "OverUsedLicenses": g["over"],
                "TSCALAvailability": availability,
            }
        )
    return LicenseReport(
        generated=now,
        host=config.release.title,
        scope=config.scope,
        summary=summary,
        per_device=per_device,
        per_user=per_user,
    )
