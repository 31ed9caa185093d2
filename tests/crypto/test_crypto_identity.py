"""The server identity in the state directory: created once, reused, private keys 0600."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from crypto_helpers import seeded

from rdplic.crypto import (
    LicenseFields,
    LicenseStatus,
    issue_license,
    validate_license,
    verify_proprietary_certificate,
    verify_x509_chain,
)
from rdplic.identity import IdentityError, ServerIdentity, identity_dir

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _create(state: Path, **kwargs: object) -> ServerIdentity:
    options: dict[str, object] = {
        "proprietary_key_bits": 512,
        "license_server_key_bits": 1024,
        "terminal_server_key_bits": 1024,
        "random_bytes": seeded(42).randbytes,
        "now": NOW,
    }
    options.update(kwargs)
    return ServerIdentity.load_or_create(state, **options)  # type: ignore[arg-type]


def test_first_start_creates_everything(tmp_path: Path) -> None:
    """Keys and certificates are created, private keys 0600, certificates usable."""
    identity = _create(tmp_path)
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in identity_dir(tmp_path).iterdir()}
    for key in ("proprietary-key.pem", "license-server-key.pem", "terminal-server-key.pem"):
        assert files[key] == 0o600
    assert not [name for name in files if name.endswith(".tmp")]
    assert stat.S_IMODE(identity_dir(tmp_path).stat().st_mode) == 0o700
    assert identity.proprietary_key.bits == 512
    assert verify_proprietary_certificate(identity.proprietary_certificate) == (
        identity.proprietary_key.public
    )
    assert verify_x509_chain(identity.x509_chain) == identity.terminal_server_key.public
    assert (
        identity.license_server.name.startswith("WIN-") and len(identity.license_server.name) == 15
    )
    assert identity.license_server.scope == "WORKGROUP"
    assert identity.created == NOW


def test_restart_reuses_the_identity(tmp_path: Path) -> None:
    """A second start (other random source, other clock) loads the same keys and certificates."""
    first = _create(tmp_path)
    second = ServerIdentity.load_or_create(tmp_path, proprietary_key_bits=512)
    assert second == first
    assert ServerIdentity.load(tmp_path) == first


def test_licenses_survive_a_restart(tmp_path: Path) -> None:
    """A license issued before a restart is still VALID after it."""
    first = _create(tmp_path)
    fields = LicenseFields(
        license_id=5,
        hwid=bytes(20),
        client_machine_name="PC",
        client_user_name="bob",
        product_major=10,
        product_minor=0,
        temporary=True,
        issued=NOW,
        expires=datetime(2025, 4, 2, tzinfo=UTC),
    )
    blob = issue_license(first.license_server, fields)
    again = ServerIdentity.load(tmp_path)
    assert validate_license(blob, again.license_server.certificate).status is LicenseStatus.VALID


def test_same_seed_same_identity(tmp_path: Path) -> None:
    """Two state directories made from the same seed and clock hold the same identity."""
    one = _create(tmp_path / "a")
    two = _create(tmp_path / "b")
    assert one.license_server == two.license_server
    assert one.x509_chain == two.x509_chain


def test_explicit_names(tmp_path: Path) -> None:
    """An explicit license server name and scope are used and then required to match."""
    identity = _create(tmp_path, license_server_name="LICSRV", scope="EXAMPLE")
    assert (identity.license_server.name, identity.license_server.scope) == ("LICSRV", "EXAMPLE")
    assert _create(tmp_path, license_server_name="LICSRV").license_server.scope == "EXAMPLE"
    with pytest.raises(IdentityError):
        _create(tmp_path, license_server_name="OTHER")
    with pytest.raises(IdentityError):
        _create(tmp_path, scope="WORKGROUP")


def test_proprietary_key_size_can_change(tmp_path: Path) -> None:
    """Asking for another proprietary key size replaces that key only."""
    first = _create(tmp_path)
    second = _create(tmp_path, proprietary_key_bits=1024)
    assert second.proprietary_key.bits == 1024
    assert second.license_server == first.license_server
    assert verify_proprietary_certificate(second.proprietary_certificate).bits == 1024


def test_load_without_identity(tmp_path: Path) -> None:
    """load() does not create anything: IdentityError when the directory has no identity."""
    with pytest.raises(IdentityError):
        ServerIdentity.load(tmp_path)
    assert not identity_dir(tmp_path).exists()


def test_interrupted_first_start_starts_over(tmp_path: Path) -> None:
    """Key files without identity.json (a crash during creation) are replaced on the next start."""
    _create(tmp_path)
    (identity_dir(tmp_path) / "identity.json").unlink()
    fresh = _create(tmp_path, random_bytes=seeded(43).randbytes)
    assert ServerIdentity.load(tmp_path) == fresh


def test_mismatched_files_are_reported(tmp_path: Path) -> None:
    """A certificate that does not belong to its key is an IdentityError, not a silent reuse."""
    _create(tmp_path / "a")
    _create(tmp_path / "b", random_bytes=seeded(7).randbytes)
    other = identity_dir(tmp_path / "b") / "license-server.der"
    (identity_dir(tmp_path / "a") / "license-server.der").write_bytes(other.read_bytes())
    with pytest.raises(IdentityError):
        ServerIdentity.load(tmp_path / "a")


def test_unreadable_metadata(tmp_path: Path) -> None:
    """A damaged identity.json is an IdentityError."""
    _create(tmp_path)
    (identity_dir(tmp_path) / "identity.json").write_text("{not json")
    with pytest.raises(IdentityError):
        ServerIdentity.load(tmp_path)
    meta = {"format": 1}
    (identity_dir(tmp_path) / "identity.json").write_text(json.dumps(meta))
    with pytest.raises(IdentityError):
        ServerIdentity.load(tmp_path)


def test_loose_key_permissions_are_tightened(tmp_path: Path) -> None:
    """A private key found readable by others is set back to 0600 on load."""
    _create(tmp_path)
    key = identity_dir(tmp_path) / "license-server-key.pem"
    key.chmod(0o644)
    ServerIdentity.load(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_key_size_below_512_is_refused(tmp_path: Path) -> None:
    """A proprietary key below 512 bits is an IdentityError."""
    with pytest.raises(IdentityError):
        _create(tmp_path, proprietary_key_bits=256)
