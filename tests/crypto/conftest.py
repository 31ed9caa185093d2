"""Fixtures of the crypto tests: keys and identities made from fixed seeds."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from rdplic.crypto import (
    LicenseServerIdentity,
    RsaPrivateKey,
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


@pytest.fixture(scope="session")
def license_server() -> LicenseServerIdentity:
    """A license server with a 2048-bit key, like Windows'."""
    return make_license_server(1, bits=2048)


@pytest.fixture(scope="session")
def other_license_server() -> LicenseServerIdentity:
    """Another license server, with the same name (a second rdplic installation)."""
    return make_license_server(2)


@pytest.fixture(scope="session")
def key512() -> RsaPrivateKey:
    return generate_rsa_key(512, seeded(512).randbytes)
