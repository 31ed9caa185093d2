"""The injected clock, durations, and the host configuration keys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ls_helpers import T0, FakeSigner

from rdplic.licensing import (
    FixedClock,
    HostConfig,
    LicenseAdmin,
    LicensePolicy,
    LicensingMode,
    ProductVersion,
    SystemClock,
    format_duration,
    parse_duration,
)
from rdplic.licensing.hostconfig import PlatformPattern
from rdplic.licensing.model import parse_hwid, to_utc
from rdplic.store import SqliteStore, StoreError


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("91d", timedelta(days=91)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(days=14)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 1d 6h ", timedelta(days=1, hours=6)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    """``rdplic clock advance`` durations: 91d, 12h, 30m, 45s, 2w and combinations."""
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "91", "d", "-1d", "1y", "1.5d", "1d-2h"])
def test_parse_duration_refuses_junk(text: str) -> None:
    """Anything but whole positive amounts with a unit is refused with one message."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    """format_duration is parse_duration's inverse."""
    for text in ("91d", "1d12h", "30m", "1d1h1m1s"):
        assert format_duration(parse_duration(text)) == text
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(-timedelta(hours=2)) == "-2h"


def test_system_clock_adds_the_offset_on_every_read() -> None:
    """SystemClock = wall clock + the administrator's offset, read each time (other processes)."""
    offset = [timedelta(0)]
    clock = SystemClock(offset=lambda: offset[0], wall=lambda: T0)
    assert clock.now() == T0
    offset[0] = timedelta(days=91)
    assert clock.now() == T0 + timedelta(days=91)
    assert SystemClock().now().tzinfo is not None


def test_fixed_clock_moves_only_when_told() -> None:
    """FixedClock is aware UTC and only moves on advance/set."""
    clock = FixedClock(T0)
    assert clock.advance(timedelta(days=1)) == T0 + timedelta(days=1)
    clock.set(T0)
    assert clock.now() == T0
    with pytest.raises(ValueError):
        FixedClock(datetime(2025, 1, 1))


def test_naive_datetimes_are_refused() -> None:
    """Every licensing time is timezone-aware UTC; a naive one is a bug caught early."""
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2025, 1, 1))
    assert to_utc(datetime(2025, 1, 1, tzinfo=UTC)).tzinfo is UTC


def test_host_config_round_trips_through_settings() -> None:
    """Every key survives to_settings / from_settings (the store's form)."""
    config = HostConfig(
        windows_version="2008R2",
        licensing_mode=LicensingMode.PER_USER,
        grace_period_days=30,
        builtin_platforms=(PlatformPattern(0x03010000, 0xFFFF0000),),
        dw_version=0x00060001,
        license_server_version="2019",
    )
    assert HostConfig.from_settings(config.to_settings()) == config
    assert HostConfig.from_settings({"unknown_future_key": "x"}) == HostConfig()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("windows_version", "2017", "Windows version"),
        ("licensing_mode", "per-seat-ish", "not one of"),
        ("grace_period_days", "-1", "days"),
        ("license_server_reachable", "maybe", "yes or no"),
        ("dw_version", "0x1FFFFFFFF", "32 bits"),
        ("builtin_platforms", "0xZZ", "platform pattern"),
        ("no_such_key", "1", "unknown setting"),
        ("license_server_version", "2003", "R14"),
        ("temporary_license_days", "0", "at least one day"),
    ],
)
def test_host_config_refuses_bad_values(key: str, value: str, message: str) -> None:
    """``rdplic config set`` refuses bad values with a one-line message."""
    with pytest.raises(ValueError, match=message):
        HostConfig().with_setting(key, value)


def test_host_config_accepts_dashes_and_aliases() -> None:
    """Keys may be spelt with dashes; booleans as yes/no/true/false; versions as names."""
    config = HostConfig().with_setting("license-server-reachable", "false")
    assert config.license_server_reachable is False
    assert HostConfig().with_setting("windows_version", "2012 R2").windows_version == "2012R2"
    assert HostConfig().with_setting("grace_period_days", "default").grace_period_days is None


def test_product_version_parsing() -> None:
    """CAL versions as MAJOR.MINOR or release names; ordering and titles."""
    assert ProductVersion.parse("10.1") == ProductVersion.parse("2019") == ProductVersion(10, 1)
    assert ProductVersion.parse("Windows Server 2008 R2") == ProductVersion(6, 1)
    assert (
        str(ProductVersion(6, 0)) == "6.0" and ProductVersion(6, 0).title == "Windows Server 2008"
    )
    assert ProductVersion(6, 3) < ProductVersion(10, 0)
    with pytest.raises(ValueError):
        ProductVersion.parse("ten")


def test_hwid_text_forms() -> None:
    """HWIDs are typed as 40 hex digits, with or without separators."""
    raw = bytes(range(20))
    assert parse_hwid(raw.hex()) == raw
    assert parse_hwid("0x" + raw.hex().upper()) == raw
    assert parse_hwid(":".join(f"{b:02x}" for b in raw)) == raw
    with pytest.raises(ValueError, match="20 bytes"):
        parse_hwid("00ff")
    with pytest.raises(ValueError, match="hexadecimal"):
        parse_hwid("zz" * 20)


def test_service_config_sees_changes_from_elsewhere_at_once(tmp_path: Path) -> None:
    """LicensePolicy.config() keeps what it read only while the store is unchanged: a
    setting written through another connection (``rdplic config set``) shows next call."""
    path = tmp_path / "licenses.sqlite3"
    store, admin = SqliteStore(path), SqliteStore(path)
    try:
        policy = LicensePolicy(store, FakeSigner(), random.Random(1))
        other = LicenseAdmin(admin)
        assert policy.config().licensing_mode is LicensingMode.PER_DEVICE
        other.update_config("licensing_mode", "per-user", T0)
        assert policy.config().licensing_mode is LicensingMode.PER_USER
        statements: list[str] = []
        store._connection().set_trace_callback(statements.append)
        assert policy.config().licensing_mode is LicensingMode.PER_USER
        assert statements == ["PRAGMA data_version"]  # nothing changed: no read transaction
        LicenseAdmin(store).update_config("licensing_mode", "per-device", T0)
        assert policy.config().licensing_mode is LicensingMode.PER_DEVICE
        assert other.config().licensing_mode is LicensingMode.PER_DEVICE
    finally:
        store.close()
        admin.close()


def test_a_bad_stored_setting_fails_every_read(tmp_path: Path) -> None:
    """A stored configuration that does not parse is a StoreError at each read, not once."""
    store = SqliteStore(tmp_path / "licenses.sqlite3")
    try:
        with store.transaction() as tx:
            tx.set_setting("host.licensing_mode", "nonsense")
        policy = LicensePolicy(store, FakeSigner(), random.Random(1))
        for _ in range(2):
            with pytest.raises(StoreError):
                policy.config()
    finally:
        store.close()
