"""The license server's invariants over one PostgreSQL database written by several
"processes" at once (one connection pool each, threads racing): no second temporary
license for a device (R27), the revocation quota (R50), no over-issue (R16)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rdplic.core.decisions import ClientIdentity
from rdplic.licensing import (
    CalType,
    DigestSigner,
    FirstLicensePolicy,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
    LicenseStatus,
)
from rdplic.store import LicenseQuery
from rdplic.store.postgres import PostgresStore

NOW = datetime.now(UTC)


def _race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; their results or errors."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _policies(url: str, n: int, first: FirstLicensePolicy) -> list[LicensePolicy]:
    config = HostConfig(first_license=first)
    return [
        LicensePolicy(PostgresStore(url), DigestSigner(), random.Random(i), config=config)
        for i in range(n)
    ]


def test_one_device_racing_on_many_processes_gets_one_temporary_license(pg_url: str) -> None:
    """Eight processes decide for the same new device at once: one temporary license is
    issued, the others send it back (R23, R27)."""
    policies = _policies(pg_url, 8, FirstLicensePolicy.TEMPORARY)
    device = ClientIdentity(hwid=b"\x04\x01\x00\x00" + bytes(16), machine_name="RACER")
    rulings = _race(8, lambda i: policies[i].request_new_license(device, NOW))
    assert not [r for r in rulings if isinstance(r, Exception)]
    with policies[0].store.snapshot() as tx:
        licenses = tx.find_licenses(LicenseQuery(hwid=device.hwid))
    assert [lic.status for lic in licenses] == [LicenseStatus.TEMPORARY]
    for policy in policies:
        policy.store.close()


def test_the_revocation_quota_holds_across_processes(pg_url: str) -> None:
    """Ten CALs installed allow two revocations (20 %, R50): six processes revoking six
    different CALs at once succeed exactly twice."""
    policies = _policies(pg_url, 6, FirstLicensePolicy.PERMANENT)
    LicenseAdmin(policies[0].store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=10)
    issued = [
        policies[0].request_new_license(
            ClientIdentity(hwid=bytes([4, 1, 0, 0, i]) + bytes(15), machine_name=f"PC{i}"), NOW
        )
        for i in range(6)
    ]
    ids = [r.license.license_id for r in issued]  # type: ignore[union-attr]
    admins = [LicenseAdmin(p.store) for p in policies]
    results = _race(6, lambda i: admins[i].revoke(ids[i], NOW))
    assert sum(not isinstance(r, Exception) for r in results) == 2, results
    with policies[0].store.snapshot() as tx:
        revoked = tx.find_licenses(LicenseQuery(statuses=[LicenseStatus.REVOKED]))
        pack = tx.list_key_packs()[0]
    assert len(revoked) == 2 and pack.issued == 4
    for policy in policies:
        policy.store.close()


def test_many_devices_on_many_processes_never_over_issue(pg_url: str) -> None:
    """Six processes issue to 60 new devices at once from a pack of 25: exactly 25
    permanent CALs, the rest temporary (R16, R27); the store stays consistent."""
    policies = _policies(pg_url, 6, FirstLicensePolicy.PERMANENT)
    LicenseAdmin(policies[0].store).add_key_pack(NOW, cal_type=CalType.PER_DEVICE, count=25)

    def ten_devices(i: int) -> None:
        for j in range(10):
            hwid = bytes([4, 1, 0, 0, i, j]) + bytes(14)
            policies[i].request_new_license(ClientIdentity(hwid=hwid, machine_name=f"D{i}{j}"), NOW)

    assert _race(6, ten_devices) == [None] * 6
    with policies[0].store.snapshot() as tx:
        licenses = tx.find_licenses(LicenseQuery())
    statuses = [lic.status for lic in licenses]
    assert statuses.count(LicenseStatus.ACTIVE) == 25
    assert statuses.count(LicenseStatus.TEMPORARY) == 35
    assert policies[0].store.check_integrity() == []
    for policy in policies:
        policy.store.close()
