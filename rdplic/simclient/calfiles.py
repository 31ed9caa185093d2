"""FreeRDP's and rdesktop's license files (``.cal``), to hand a license to a real client and back.

Both clients keep one license per client name, the license itself (pbLicenseInfo, the DER
a license server signed) and nothing else, in a file named after a SHA-1 of the name:

* FreeRDP 2 (libfreerdp/core/license.c ``computeCalHash``, ``saveCal``):
  ``$XDG_CONFIG_HOME/freerdp/licenses/<sha1(client host name)>.cal``; its hardware id is
  PlatformId 0x04010000 then MD5 of the same name (``license_generate_hwid``).
* rdesktop 1.9 (rdesktop.c ``rd_save_licence``, licence.c ``licence_generate_hwid``):
  ``$HOME/.local/share/rdesktop/licenses/<sha1(name16 + salt)>.cal`` where name16 is the
  client name (``-n``, at most 15 characters) NUL-padded to 16 bytes and salt rdesktop's
  16-byte ``g_static_rdesktop_salt_16`` (secure.c); its hardware id is the dword 2 then the
  name's bytes.

The license is bound to the hardware id it was issued to: a real client presents it with
its own derivation, so the simulated machine must have had that same id
(`rdplic.core.platforms.HWID_DERIVATIONS`); an import gives the machine that id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CAL_FORMATS", "cal_directory", "cal_file_name"]

CAL_FORMATS = ("freerdp", "rdesktop")

_RDESKTOP_SALT = bytes.fromhex("b8822931c539d94454155e147138d54d")
"""rdesktop 1.9.0 secure.c ``g_static_rdesktop_salt_16``."""


def cal_file_name(kind: str, client_name: str) -> str:
    """The file name the client ``kind`` keeps ``client_name``'s license under."""
    if kind == "freerdp":
        return hashlib.sha1(client_name.encode("utf-8")).hexdigest() + ".cal"
    if kind == "rdesktop":
        name16 = client_name.encode("utf-8")[:15].ljust(16, b"\0")
        return hashlib.sha1(name16 + _RDESKTOP_SALT).hexdigest() + ".cal"
    raise ValueError(f"unknown .cal format {kind!r}")


def cal_directory(kind: str) -> Path:
    """Where the client ``kind`` keeps its licenses for the current user."""
    home = Path.home()
    if kind == "freerdp":
        config = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        return Path(config) / "freerdp" / "licenses"
    if kind == "rdesktop":
        return home / ".local" / "share" / "rdesktop" / "licenses"
    raise ValueError(f"unknown .cal format {kind!r}")
