"""Key pack accounting as RD Licensing Manager shows it, through the real ``rdplic`` command
(issue 12; docs/license-server-behavior.md R15, R18).

- R18: temporary licenses are counted in a key pack of KeyPackType 4 that the license server
  creates the first time it issues a temporary license of that version and CAL type (as a
  fresh Windows license server lists only the packs installed on it); ``keypack list`` shows
  it from then on, uncapped (total and available ``null``).
- R15: a pack's issued count is its licenses that are temporary or active; an upgraded,
  revoked or expired license gives its CAL back. So once a device's temporary license is
  upgraded, the temporary pack's issued count goes back down, and the permanent CAL counts
  in the purchased pack.

``keypack list``, its JSON, ``license list`` and the report must say the same thing.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli_process import rdplic

from rdplic.licensing import (
    ClientIdentity,
    DecisionKind,
    DigestSigner,
    LicensePolicy,
    PresentedLicense,
)
from rdplic.store import open_store

OUTSTANDING = ("temporary", "active")


def _json(state: Path, *argv: str) -> Any:
    result = rdplic(*argv, "--json", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _connect(state: Path, name: str, stored: PresentedLicense | None) -> PresentedLicense:
    """One connection of device ``name`` as rdplic serve decides it (the client presents
    what it stored), returning what the device stores afterwards."""
    store = open_store(state)
    try:
        policy = LicensePolicy(store, DigestSigner(), random.Random(5))
        who = ClientIdentity(b"\x02\x00\x00\x00" + hashlib.md5(name.encode()).digest(), name, "u")
        now = datetime.now(UTC)
        if stored is None:
            ruling = policy.request_new_license(who, now)
        else:
            ruling = policy.evaluate_presented(who, stored, now)
            if ruling.decision.kind is DecisionKind.PLATFORM_CHALLENGE:
                ruling = policy.present_license(who, stored, now)
        lic = ruling.license
        assert lic is not None and ruling.decision.blob is not None
        return PresentedLicense(
            license_id=lic.license_id,
            hwid=lic.hwid,
            product_version=lic.product_version,
            temporary=lic.temporary,
            issued=lic.issued,
            expires=lic.expires,
            blob=ruling.decision.blob,
        )
    finally:
        store.close()


def _agree(state: Path) -> dict[int, dict[str, Any]]:
    """keypack list --json against license list --json and the report: the same counts."""
    packs = {p["key_pack_id"]: p for p in _json(state, "keypack", "list")}
    licenses = _json(state, "license", "list")
    for pack in packs.values():
        counted = [
            lic
            for lic in licenses
            if lic["key_pack_id"] == pack["key_pack_id"] and lic["status"] in OUTSTANDING
        ]
        assert pack["issued_count"] == len(counted), (pack, licenses)
        if pack["total"] is not None:
            assert pack["available"] == pack["total"] - pack["issued_count"]
    table = rdplic("keypack", "list", "--state-dir", str(state)).stdout.splitlines()[2:]
    for row in table:
        cells = row.split()
        assert int(cells[6]) == packs[int(cells[0])]["issued_count"], row
    report = _json(state, "report")
    for row in report["summary"]:
        purchased = [
            p
            for p in packs.values()
            if p["product_version"] == row["ProductVersion"] and p["key_pack_type"] != "temporary"
        ]
        assert row["IssuedLicenses"] == sum(p["issued_count"] for p in purchased)
    return packs


def test_keypack_list_agrees_with_license_list(tmp_path: Path) -> None:
    """R15, R18: the temporary pack appears with the first temporary license, counts it while
    it is outstanding and not after its upgrade; every listing gives the same numbers."""
    state = tmp_path / "state"
    added = _json(state, "keypack", "add", "--type", "per-device", "--count", "1")
    assert added["issued_count"] == 0
    assert [p["key_pack_type"] for p in _agree(state).values()] == ["retail"]

    pc1 = _connect(state, "pc1", None)  # a temporary license (R27)
    packs = _agree(state)
    temporary = next(p for p in packs.values() if p["key_pack_type"] == "temporary")
    assert (temporary["total"], temporary["available"], temporary["issued_count"]) == (
        None,
        None,
        1,
    )

    pc1 = _connect(state, "pc1", pc1)  # upgraded to the permanent CAL (R29)
    assert not pc1.temporary
    packs = _agree(state)
    assert packs[temporary["key_pack_id"]]["issued_count"] == 0  # upgraded: given back (R15)
    assert packs[added["key_pack_id"]]["issued_count"] == 1
    statuses = sorted(lic["status"] for lic in _json(state, "license", "list"))
    assert statuses == ["active", "upgraded"]

    _connect(state, "pc2", None)  # a second device: temporary again, the pool uncapped
    packs = _agree(state)
    assert packs[temporary["key_pack_id"]]["issued_count"] == 1
