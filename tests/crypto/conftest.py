"""Fixtures of the crypto tests: keys and identities made from fixed seeds."""

from __future__ import annotations

import pytest
from crypto_helpers import make_license_server, seeded

from rdplic.crypto import LicenseServerIdentity, RsaPrivateKey, generate_rsa_key


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
