"""The machine directory (an MSLicensing key in files), .cal file names, and the client
commands that work on a machine without a server, run in-process."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from rdplic.cli.main import main
from rdplic.core.client_store import LicenseKey
from rdplic.core.platforms import freerdp_hardware_id, rdesktop_hardware_id
from rdplic.errors import UsageError
from rdplic.simclient.calfiles import cal_file_name
from rdplic.simclient.machine import MachineDirectory

KEY_2019 = LicenseKey(0x000A0001, "microsoft.com", "Microsoft Corporation", "A02")
KEY_2008 = LicenseKey(0x00060000, "microsoft.com", "Microsoft Corporation", "A02")


def test_new_windows_machine_draws_a_random_hwid_and_keeps_it(tmp_path: Path) -> None:
    """R72: a Windows machine's hwid is drawn once, stored 0600, and read back unchanged."""
    machine = MachineDirectory.open(
        tmp_path / "m", client_name="PC1", random_bytes=lambda n: b"\x07" * n
    )
    assert machine.hwid == b"\x07" * 20 and machine.hwid_source == "random"
    again = MachineDirectory.open(tmp_path / "m", random_bytes=lambda n: b"\x09" * n)
    assert (again.client_name, again.hwid, again.platform.name) == (
        "PC1",
        b"\x07" * 20,
        "windows-10",
    )
    assert stat.S_IMODE((tmp_path / "m" / "machine.json").stat().st_mode) == 0o600


def test_real_client_presets_take_the_real_derivation(tmp_path: Path) -> None:
    """freerdp and rdesktop machines derive their hwid from the name as the clients do."""
    free = MachineDirectory.open(tmp_path / "f", client_name="TUX", platform="freerdp")
    rdesk = MachineDirectory.open(tmp_path / "r", client_name="TUX", platform="rdesktop")
    assert free.hwid == freerdp_hardware_id("TUX") and free.hwid_source == "freerdp"
    assert rdesk.hwid == rdesktop_hardware_id("TUX") and rdesk.hwid_source == "rdesktop"


def test_store_indexes_by_scope_company_product_and_version(tmp_path: Path) -> None:
    """3.3.5.6: one license per index, replaced in place; 3.3.5.1: same or later version found."""
    machine = MachineDirectory.open(tmp_path / "m")
    machine.store(KEY_2019, b"first")
    machine.store(KEY_2008, b"old")
    machine.store(KEY_2019, b"second")
    entries = machine.licenses()
    assert [(e.name, e.key, e.license_info) for e in entries] == [
        ("LICENSE000", KEY_2019, b"second"),
        ("LICENSE001", KEY_2008, b"old"),
    ]
    assert machine.find(KEY_2008) == (KEY_2008, b"old")
    assert machine.find(KEY_2019) == (KEY_2019, b"second")
    later = LicenseKey(0x000A0002, "microsoft.com", "Microsoft Corporation", "A02")
    assert machine.find(later) is None
    other = LicenseKey(0x00060000, "microsoft.com", "Microsoft Corporation", "B01")
    assert machine.find(other) is None
    for file in (tmp_path / "m" / "Store").iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_forget_keeps_the_hwid_and_forget_all_drops_it(tmp_path: Path) -> None:
    """KB 315262's two deletions: the licenses only, or the whole key with the hwid."""
    machine = MachineDirectory.open(tmp_path / "m")
    machine.store(KEY_2019, b"x")
    assert machine.forget() == 1 and machine.licenses() == []
    assert MachineDirectory.open(tmp_path / "m").hwid == machine.hwid
    machine.forget(everything=True)
    assert not (tmp_path / "m").exists()
    assert MachineDirectory.open(tmp_path / "m").hwid != machine.hwid


def test_cal_file_names_are_the_clients_own() -> None:
    """FreeRDP: sha1(name); rdesktop: sha1(name padded to 16 + its salt) (secure.c)."""
    assert cal_file_name("freerdp", "PC1") == hashlib.sha1(b"PC1").hexdigest() + ".cal"
    salt = bytes.fromhex("b8822931c539d94454155e147138d54d")
    expected = hashlib.sha1(b"PC1".ljust(16, b"\0") + salt).hexdigest() + ".cal"
    assert cal_file_name("rdesktop", "PC1") == expected


def test_bad_machine_files_and_options_are_usage_errors(tmp_path: Path) -> None:
    """A broken machine.json, a short hwid or an unknown preset: UsageError, nothing written."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "machine.json").write_text("{}")
    with pytest.raises(UsageError, match="not a machine file"):
        MachineDirectory.open(tmp_path / "bad")
    with pytest.raises(UsageError, match="20 bytes"):
        MachineDirectory.open(tmp_path / "x", hwid=b"1")
    with pytest.raises(UsageError, match="not one of"):
        MachineDirectory.open(tmp_path / "y", platform="amiga")
    with pytest.raises(UsageError, match="no simulated machine"):
        MachineDirectory.open(tmp_path / "z", create=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_export_refuses_a_machine_whose_hwid_is_not_the_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Windows machine's random hwid is not FreeRDP's: export says so, exit 2, no file."""
    machine = MachineDirectory.open(tmp_path / "m", client_name="PC1")
    machine.store(KEY_2019, b"license")
    status = main(
        [
            "client",
            "export",
            "--format",
            "freerdp",
            "--machine-dir",
            str(tmp_path / "m"),
            "--to",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "not the one freerdp derives" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_export_then_licenses_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A freerdp machine's only license goes to sha1(name).cal, 0600; licenses lists it."""
    machine = MachineDirectory.open(tmp_path / "m", client_name="PC1", platform="freerdp")
    machine.store(KEY_2019, b"license")
    assert (
        main(
            [
                "client",
                "export",
                "--format",
                "freerdp",
                "--machine-dir",
                str(machine.path),
                "--to",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    written = tmp_path / "out" / cal_file_name("freerdp", "PC1")
    assert written.read_bytes() == b"license"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["client", "licenses", "--json", "--machine-dir", str(machine.path)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["hwid"] == freerdp_hardware_id("PC1").hex()
    assert [(e["name"], e["dw_version"], e["temporary"]) for e in listed["licenses"]] == [
        ("LICENSE000", 0x000A0001, None)  # not a license this client can read
    ]


def test_client_help_names_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """``rdplic client --help`` lists the presets the core has (kept in step by hand)."""
    from rdplic.core.platforms import CLIENT_PLATFORMS

    with pytest.raises(SystemExit):
        main(["client", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in CLIENT_PLATFORMS:
        assert name in text
