"""Helpers of the crypto tests: keys and identities made from fixed seeds."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from rdplic.crypto import (
    LicenseServerIdentity,
    build_license_server_certificate,
    generate_rsa_key,
)

CREATED = datetime(2024, 3, 1, 9, 15, 30, 250000, tzinfo=UTC)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def make_license_server(
    seed: int, *, name: str = "WIN-TESTLS00001", bits: int = 1024
) -> LicenseServerIdentity:
    key = generate_rsa_key(bits, seeded(seed).randbytes)
    certificate = build_license_server_certificate(
        key, name=name, scope="WORKGROUP", created=CREATED
    )
    return LicenseServerIdentity(
        name=name,
        scope="WORKGROUP",
        product_id="00429-00000-12345-AT678",
        private_key=key,
        certificate=certificate,
    )
