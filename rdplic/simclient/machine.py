"""A simulated client machine on disk: its hardware id and its licenses, as Windows keeps them.

Windows keeps a client's licensing state in the registry key
``HKLM\\SOFTWARE\\Microsoft\\MSLicensing``: ``HardwareID\\ClientHWID`` (a random id drawn
once, docs/license-server-behavior.md R72) and ``Store\\LICENSE00n``, one value set per
license, indexed by the server's scope, company name, product id and version as
[MS-RDPELE] 3.3.5.6 says.  A machine directory is that key in files:

``machine.json``
    ``client_name``, ``platform`` (a preset of `rdplic.core.platforms.CLIENT_PLATFORMS`),
    ``hwid`` (hex) and ``hwid_source`` (``random``, ``freerdp``, ``rdesktop``, ``rdplic``
    for the MD5 derivation of the Windows presets, or ``given``).
``Store/LICENSE000.json``...
    one file per license: ``scope``, ``company_name``, ``product_id``, ``dw_version`` and
    the license itself (``license``, hex of pbLicenseInfo).

FreeRDP and rdesktop key their one license file by client name alone, so a machine that
talks to servers of two versions loses the first license; this store keeps both.  Deleting
``Store`` is deleting the licenses (KB 315262's first way); deleting the whole directory
also drops the hardware id, and the next connection draws a new one: a new device for
every license server (the second way).  Every file is created 0600 (a license is a secret
of its holder: architecture invariant 9).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from rdplic.core.client_store import LicenseKey
from rdplic.core.platforms import CLIENT_PLATFORMS, HWID_DERIVATIONS, ClientPlatform
from rdplic.errors import UsageError
from rdplic.files import open_private

__all__ = [
    "DEFAULT_CLIENT_NAME",
    "DEFAULT_PLATFORM",
    "MachineDirectory",
    "StoredLicense",
    "default_machine_dir",
]

DEFAULT_CLIENT_NAME = "RDPLIC-PC"
DEFAULT_PLATFORM = "windows-10"
_HWID_SIZE = 20
_MACHINE_FILE = "machine.json"
_STORE = "Store"


def default_machine_dir(client_name: str) -> Path:
    """``$XDG_DATA_HOME/rdplic/machines/NAME`` (platformdirs' user data directory)."""
    base = Path(platformdirs.user_data_dir("rdplic", appauthor=False))
    return base / "machines" / client_name


def derived_hwid(platform: ClientPlatform, client_name: str) -> tuple[bytes, str]:
    """The hardware id a new machine gets: random for Windows and macOS (R72: Windows
    draws one and keeps it in the registry), as the real client derives it for
    ``freerdp`` and ``rdesktop``; the second item is its ``hwid_source``."""
    if platform.hwid_derivation == "rdesktop":
        return HWID_DERIVATIONS["rdesktop"](client_name), "rdesktop"
    if platform.name == "freerdp":
        return HWID_DERIVATIONS["freerdp"](client_name), "freerdp"
    return b"", "random"


@dataclasses.dataclass(frozen=True, slots=True)
class StoredLicense:
    """One ``Store/LICENSE00n`` entry."""

    index: int
    key: LicenseKey
    license_info: bytes

    @property
    def name(self) -> str:
        return f"LICENSE{self.index:03d}"


def _write_json(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` atomically, mode 0600."""
    temporary = path.with_name(path.name + ".tmp")
    with open_private(temporary, text=True) as out:
        json.dump(value, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(temporary, path)


class MachineDirectory:
    """A `ClientLicenseStore` in a directory, with the machine's identity beside it.

    ``open`` reads it, or creates it on first use; ``client_name``, ``platform`` and
    ``hwid`` given to ``open`` replace what is stored (and are saved), so a tester can
    rename a machine or give it another hardware id.
    """

    def __init__(
        self, path: Path, client_name: str, platform: ClientPlatform, hwid: bytes, source: str
    ) -> None:
        self.path = path
        self.client_name = client_name
        self.platform = platform
        self.hwid = hwid
        self.hwid_source = source

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        client_name: str | None = None,
        platform: str | None = None,
        hwid: bytes | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        create: bool = True,
    ) -> MachineDirectory:
        """The machine in ``path`` (default: `default_machine_dir` of the client name).

        :raises UsageError: a platform that is no preset, a hardware id that is not 20
            bytes, a directory that cannot be read, or none there and ``create`` is False
        """
        if platform is not None and platform not in CLIENT_PLATFORMS:
            raise UsageError(f"--platform {platform!r} is not one of {', '.join(CLIENT_PLATFORMS)}")
        if hwid is not None and len(hwid) != _HWID_SIZE:
            raise UsageError(f"--hwid must be {_HWID_SIZE} bytes, got {len(hwid)}")
        directory = Path(path) if path else default_machine_dir(client_name or DEFAULT_CLIENT_NAME)
        stored = cls._read_machine(directory)
        if stored is None and not create:
            raise UsageError(f"no simulated machine in {directory}")
        stored = stored or {}
        name = client_name or stored.get("client_name") or DEFAULT_CLIENT_NAME
        preset = CLIENT_PLATFORMS[platform or stored.get("platform") or DEFAULT_PLATFORM]
        source = str(stored.get("hwid_source", ""))
        current = bytes.fromhex(stored["hwid"]) if "hwid" in stored else b""
        if hwid is not None:
            current, source = hwid, "given"
        elif not current:
            current, source = derived_hwid(preset, name)
            if not current:
                current = random_bytes(_HWID_SIZE)
        machine = cls(directory, name, preset, current, source)
        if machine._record() != stored:
            machine.save()
        return machine

    @staticmethod
    def _read_machine(directory: Path) -> dict[str, Any] | None:
        file = directory / _MACHINE_FILE
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise UsageError(f"cannot read {file}: {error.strerror}") from None
        try:
            value = json.loads(text)
            if not isinstance(value, dict) or len(bytes.fromhex(value["hwid"])) != _HWID_SIZE:
                raise ValueError("no 20-byte hwid")
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{file} is not a machine file: {error}") from None
        return value

    def _record(self) -> dict[str, Any]:
        return {
            "client_name": self.client_name,
            "platform": self.platform.name,
            "hwid": self.hwid.hex(),
            "hwid_source": self.hwid_source,
        }

    def save(self) -> None:
        """Write ``machine.json`` (the directory is created 0700)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_json(self.path / _MACHINE_FILE, self._record())

    def set_hwid(self, hwid: bytes, source: str) -> None:
        """Give the machine another hardware id (an imported license's derivation)."""
        self.hwid, self.hwid_source = hwid, source
        self.save()

    # -- ClientLicenseStore ---------------------------------------------------------------

    def licenses(self) -> list[StoredLicense]:
        """Every stored license, in index order."""
        store = self.path / _STORE
        if not store.is_dir():
            return []
        out = []
        for file in sorted(store.glob("LICENSE[0-9][0-9][0-9].json")):
            try:
                value = json.loads(file.read_text(encoding="utf-8"))
                key = LicenseKey(
                    version=int(value["dw_version"]),
                    scope=str(value["scope"]),
                    company_name=str(value["company_name"]),
                    product_id=str(value["product_id"]),
                )
                blob = bytes.fromhex(value["license"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise UsageError(f"{file} is not a stored license: {error}") from None
            out.append(StoredLicense(int(file.name[7:10]), key, blob))
        return out

    def find(self, wanted: LicenseKey) -> tuple[LicenseKey, bytes] | None:
        """The license of exactly ``wanted.version``, else the closest later one (3.3.5.1)."""
        candidates = sorted(
            (entry.key, entry.license_info)
            for entry in self.licenses()
            if entry.key.matches(wanted)
        )
        return candidates[0] if candidates else None

    def store(self, key: LicenseKey, license_info: bytes) -> None:
        """Keep ``license_info`` under ``key``, replacing the license of the same index
        (3.3.5.6), else in the first free ``LICENSE00n``."""
        entries = self.licenses()
        index = next((e.index for e in entries if _same_index(e.key, key)), None)
        if index is None:
            used = {e.index for e in entries}
            index = next(i for i in range(len(used) + 1) if i not in used)
        store = self.path / _STORE
        store.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_json(
            store / f"LICENSE{index:03d}.json",
            {
                "scope": key.scope,
                "company_name": key.company_name,
                "product_id": key.product_id,
                "dw_version": key.version,
                "license": license_info.hex(),
            },
        )

    # -- forgetting -------------------------------------------------------------------

    def forget(self, *, everything: bool = False) -> int:
        """Delete the licenses (``Store``), or with ``everything`` the whole key, hardware
        id included (KB 315262); returns how many licenses were deleted."""
        count = len(self.licenses())
        if everything:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            shutil.rmtree(self.path / _STORE, ignore_errors=True)
        return count


def _same_index(a: LicenseKey, b: LicenseKey) -> bool:
    return (
        a.version == b.version
        and a.scope.casefold() == b.scope.casefold()
        and a.company_name == b.company_name
        and a.product_id == b.product_id
    )
