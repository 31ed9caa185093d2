"""A separate process that issues licenses in a loop (concurrency and crash tests).

Usage: ``python ls_worker.py STORE PREFIX COUNT [SLOW_SIGN_SECONDS [DIE_AT_SIGN]]``. For each device
PREFIX-0 .. PREFIX-(COUNT-1) it asks for a new license and prints
``LICENSE_ID TEMPORARY`` once the decision (its transaction) has returned: every line
printed is a license a client received. With DIE_AT_SIGN the process SIGKILLs itself
inside that signing call, i.e. in the middle of a decision's transaction.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime

from rdplic.licensing import ClientIdentity, DigestSigner, LicenseFields, LicensePolicy
from rdplic.store import SqliteStore


class SlowSigner(DigestSigner):
    """Signing takes a while, inside the transaction: a kill lands mid-decision."""

    def __init__(self, delay: float, die_at: int) -> None:
        self.delay = delay
        self.die_at = die_at
        self.calls = 0

    def sign(self, fields: LicenseFields) -> bytes:
        self.calls += 1
        if self.calls == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.delay)
        return super().sign(fields)


def main(argv: list[str]) -> int:
    path, prefix, count = argv[0], argv[1], int(argv[2])
    delay = float(argv[3]) if len(argv) > 3 else 0.0
    die_at = int(argv[4]) if len(argv) > 4 else 0
    store = SqliteStore(path)
    policy = LicensePolicy(store, SlowSigner(delay, die_at), random.Random(prefix))
    now = datetime(2025, 1, 6, tzinfo=UTC)
    for i in range(count):
        name = f"{prefix}-{i}"
        hwid = b"\x02\x00\x00\x00" + hashlib.md5(name.encode()).digest()
        decision = policy.request_new_license(ClientIdentity(hwid, name, "user", 0x04010000), now)
        lic = decision.license
        assert lic is not None, decision
        print(lic.license_id, int(lic.temporary), flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
