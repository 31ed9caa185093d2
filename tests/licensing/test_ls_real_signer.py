"""The license policy with the real signer (rdplic.crypto.license): what is stored parses back."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from ls_helpers import T0, Device

from rdplic.crypto import (
    LicenseServerIdentity,
    build_license_server_certificate,
    generate_rsa_key,
    parse_license,
    validate_license,
)
from rdplic.crypto.license import LicenseStatus as CheckStatus
from rdplic.licensing import CryptoLicenseSigner, DecisionKind, HostConfig, LicensePolicy
from rdplic.store import SqliteStore


def test_issued_license_is_a_windows_shaped_cal_signed_by_the_server(store: SqliteStore) -> None:
    """R21, R66: the stored blob is a CAL whose fields match the record and which validates."""
    key = generate_rsa_key(512, random.Random(5).randbytes)  # small key: speed, not realism
    created = datetime(2024, 3, 1, tzinfo=UTC)
    issuer = LicenseServerIdentity(
        name="WIN-RDPLICTEST1",
        scope="WORKGROUP",
        product_id="00429-00000-12345-AT678",
        private_key=key,
        certificate=build_license_server_certificate(
            key, name="WIN-RDPLICTEST1", scope="WORKGROUP", created=created
        ),
    )
    policy = LicensePolicy(
        store, CryptoLicenseSigner(issuer), random.Random(1), config=HostConfig()
    )
    device = Device.named("pc1", user="alice")
    decision = policy.request_new_license(device.identity, T0)
    assert decision.kind is DecisionKind.ISSUE_NEW and decision.license is not None
    lic = decision.license
    parsed = parse_license(decision.blob)
    assert parsed.license_id == lic.license_id
    assert parsed.hwid == device.identity.hwid
    assert (parsed.client_machine_name, parsed.client_user_name) == ("PC1", "alice")
    assert (parsed.product_major, parsed.product_minor) == (10, 1)
    assert parsed.adjusted_product_id == "A02-10.01-S"
    assert parsed.temporary and parsed.expires == lic.expires
    assert validate_license(decision.blob, issuer.certificate).status is CheckStatus.VALID
    with store.snapshot() as tx:
        assert tx.get_license_blob(lic.license_id) == decision.blob
