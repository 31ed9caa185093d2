"""Who a simulated client claims to be: presets of the clients Windows hosts recognise.

A licensing client identifies itself by the PlatformId of its New License
Request and License Info (MS-RDPELE 2.2.2.2: operating system in the top
byte, software vendor in the second, the vendor's OS revision in the low
word), by the PlatformId inside its hardware id, by wClientType and
wLicenseDetailLevel in the challenge response (2.2.2.5.1), and by the
LICENSE_PREAMBLE flags it writes.  The license server keys some policy on
PlatformId: a Windows 2000 host gives Windows 2000 Professional and Windows XP
Professional clients a built-in CAL (docs/license-server-behavior.md R19).

Values and their sources:

* Windows 2000 Professional: CLIENT_OS_ID_WINNT_50 | CLIENT_IMAGE_ID_MICROSOFT,
  revision 0 (0x03010000); Windows XP Professional: the same OS id with revision 1
  (NT 5.1, 0x03010001).  No public source gives the PlatformId XP Home sends, nor
  tells it apart from XP Professional's; KB 315262's rule (a Windows 2000 host gives
  2000 Professional and XP Professional built-in CALs, XP Home needs one: R19) needs
  them apart, so the ``windows-xp-home`` preset sends **0x03010002, rdplic's own
  choice** (revision 2), and the license service's default ``builtin_platforms`` set
  (`rdplic.licensing.hostconfig.DEFAULT_BUILTIN_PLATFORMS`) is exactly 0x03010000 and
  0x03010001.  Both are configurable (``rdplic config set builtin_platforms``).
* Windows Vista to 8.1 (NT 6.x) and Server 2003 (NT 5.2):
  CLIENT_OS_ID_WINNT_POST_52 | Microsoft = 0x04010000, as every MS-RDPELE
  example shows.  Windows 10 and 11: CLIENT_OS_ID_WINNT_POST_100 | Microsoft
  (0x08010000, MS-RDPELE 2.2.2.2 footnote).
* Windows clients put PlatformId 2 in the hardware id (MS-RDPELE 4.3 and 4.5),
  answer the challenge as WIN32_PLATFORMCHALLENGE_TYPE with LICENSE_DETAIL_DETAIL,
  use BB_DATA_BLOB for their encrypted fields (4.3, 4.5) and set
  EXTENDED_ERROR_MSG_SUPPORTED (preamble 0x83).
* Microsoft Remote Desktop for Mac: operating system "other" (0xFF) from
  Microsoft (0xFF010000), OTHER_PLATFORMCHALLENGE_TYPE [inferred: the
  values are not published].
* FreeRDP (Linux): 0x04010000, the request's PlatformId in the hardware id,
  OTHER_PLATFORMCHALLENGE_TYPE, BB_ENCRYPTED_DATA_BLOB, preamble 0x83.
* rdesktop (Linux): 0xFF010000 in the New License Request but 0x02010000 in
  the License Info, hardware id PlatformId 2, preamble 0x03 (0x02 with -4),
  and the quirks of `ClientQuirks` (docs/real-clients.md section 4).

Hardware ids (`hardware_id`): rdesktop 1.9 writes the dword 2 followed by its client
name, ``strncpy``'d into the 16 remaining bytes (licence.c ``licence_generate_hwid``;
the name is at most 15 characters, ``-n``); FreeRDP 2 writes its PlatformId
(0x04010000) followed by MD5 of its client host name (license.c
``license_generate_hwid``).  The ``rdesktop`` presets and ``freerdp`` derive theirs
exactly so (`ClientPlatform.hwid_derivation`), so that a license handed to the real
client (``rdplic client export``) is presented with the hardware id it was issued to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Mapping
from types import MappingProxyType

from rdplic.pdu.licensing import BlobType, ClientType, LicenseDetailLevel, PreambleVersion

__all__ = [
    "CLIENT_PLATFORMS",
    "HWID_DERIVATIONS",
    "RDESKTOP_QUIRKS",
    "WINDOWS_XP_HOME_PLATFORM_ID",
    "ClientPlatform",
    "ClientQuirks",
    "freerdp_hardware_id",
    "hardware_id",
    "rdesktop_hardware_id",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ClientQuirks:
    """Deviations from MS-RDPELE that real clients show, to simulate them faithfully.

    :ivar zero_randoms: client random and premaster secret all zero, and the
        EncryptedPreMasterSecret 72 zero bytes, not encrypted (rdesktop)
    :ivar echo_encrypted_challenge: answer the challenge with the encrypted
        token as received instead of PLATFORM_CHALLENGE_RESPONSE_DATA (rdesktop)
    :ivar skip_mac_checks: do not check the challenge's and the license's MACData
        (rdesktop)
    :ivar skip_certificate_check: do not verify the server certificate's signature
        (rdesktop ignores the certificate; FreeRDP does not check proprietary ones)
    """

    zero_randoms: bool = False
    echo_encrypted_challenge: bool = False
    skip_mac_checks: bool = False
    skip_certificate_check: bool = False


RDESKTOP_QUIRKS = ClientQuirks(
    zero_randoms=True,
    echo_encrypted_challenge=True,
    skip_mac_checks=True,
    skip_certificate_check=True,
)
"""What rdesktop 1.9 does (licence.c; docs/real-clients.md section 4)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClientPlatform:
    """How one kind of client fills the fields that identify it.

    :ivar name: the preset's key in `CLIENT_PLATFORMS`
    :ivar platform_id: PlatformId of the New License Request (MS-RDPELE 2.2.2.2)
    :ivar license_info_platform_id: PlatformId of the License Info, when it differs
    :ivar hwid_platform_id: CLIENT_HARDWARE_ID.PlatformId, None for ``platform_id``
    :ivar client_type: PLATFORM_CHALLENGE_RESPONSE_DATA.wClientType
    :ivar license_detail_level: PLATFORM_CHALLENGE_RESPONSE_DATA.wLicenseDetailLevel
    :ivar preamble_version: LICENSE_PREAMBLE version (3; 2 for an RDP 4.0 client)
    :ivar extended_error_supported: set EXTENDED_ERROR_MSG_SUPPORTED in the preamble
    :ivar encrypted_blob_type: wBlobType of EncryptedHWID and the encrypted response
    :ivar quirks: deliberate deviations (rdesktop)
    :ivar hwid_derivation: how `hardware_id` derives the hardware id from the client name:
        ``"md5"`` (PlatformId then MD5 of the name, as FreeRDP) or ``"rdesktop"`` (2 then
        the name's bytes, as rdesktop)
    """

    name: str
    platform_id: int
    license_info_platform_id: int | None = None
    hwid_platform_id: int | None = 2
    client_type: int = ClientType.WIN32_PLATFORMCHALLENGE_TYPE
    license_detail_level: int = LicenseDetailLevel.LICENSE_DETAIL_DETAIL
    preamble_version: int = PreambleVersion.PREAMBLE_VERSION_3_0
    extended_error_supported: bool = True
    encrypted_blob_type: int = BlobType.BB_DATA_BLOB
    quirks: ClientQuirks = ClientQuirks()
    hwid_derivation: str = "md5"


_WINDOWS_2000 = 0x03010000  # CLIENT_OS_ID_WINNT_50 | CLIENT_IMAGE_ID_MICROSOFT
_WINDOWS_XP = 0x03010001  # the same, OS revision 1 (NT 5.1)
WINDOWS_XP_HOME_PLATFORM_ID = 0x03010002
"""XP Home's PlatformId: rdplic's own choice (no public source gives the real one), so that
a Windows 2000 host can tell it from XP Professional (R19, KB 315262)."""
_WINDOWS_POST_52 = 0x04010000  # CLIENT_OS_ID_WINNT_POST_52 | CLIENT_IMAGE_ID_MICROSOFT
_WINDOWS_POST_100 = 0x08010000  # CLIENT_OS_ID_WINNT_POST_100 | CLIENT_IMAGE_ID_MICROSOFT
_OTHER_MICROSOFT = 0xFF010000  # OS "other", image from Microsoft

_PRESETS = (
    ClientPlatform("windows-2000-professional", _WINDOWS_2000, extended_error_supported=False),
    ClientPlatform("windows-xp-professional", _WINDOWS_XP),
    ClientPlatform("windows-xp-home", WINDOWS_XP_HOME_PLATFORM_ID),
    ClientPlatform("windows-server-2003", _WINDOWS_POST_52),
    ClientPlatform("windows-vista", _WINDOWS_POST_52),
    ClientPlatform("windows-7", _WINDOWS_POST_52),
    ClientPlatform("windows-8.1", _WINDOWS_POST_52),
    ClientPlatform("windows-10", _WINDOWS_POST_100),
    ClientPlatform("windows-11", _WINDOWS_POST_100),
    ClientPlatform(
        "macos",
        _OTHER_MICROSOFT,
        client_type=ClientType.OTHER_PLATFORMCHALLENGE_TYPE,
    ),
    ClientPlatform(
        "freerdp",
        _WINDOWS_POST_52,
        hwid_platform_id=None,
        client_type=ClientType.OTHER_PLATFORMCHALLENGE_TYPE,
        encrypted_blob_type=BlobType.BB_ENCRYPTED_DATA_BLOB,
    ),
    ClientPlatform(
        "rdesktop",
        _OTHER_MICROSOFT,
        license_info_platform_id=0x02010000,
        extended_error_supported=False,
        quirks=RDESKTOP_QUIRKS,
        hwid_derivation="rdesktop",
    ),
    ClientPlatform(
        "rdesktop-rdp4",
        _OTHER_MICROSOFT,
        license_info_platform_id=0x02010000,
        preamble_version=PreambleVersion.PREAMBLE_VERSION_2_0,
        extended_error_supported=False,
        quirks=RDESKTOP_QUIRKS,
        hwid_derivation="rdesktop",
    ),
)

CLIENT_PLATFORMS: Mapping[str, ClientPlatform] = MappingProxyType({p.name: p for p in _PRESETS})
"""The presets by name: Windows 2000 Professional to Windows 11, macOS, FreeRDP, rdesktop."""


RDESKTOP_HWID_PLATFORM_ID = 2
"""The dword rdesktop writes first in its hardware id (licence.c ``licence_generate_hwid``)."""

FREERDP_PLATFORM_ID = _WINDOWS_POST_52
"""FreeRDP 2's PlatformId, also the first dword of its hardware id (license.c)."""


def rdesktop_hardware_id(machine_name: str) -> bytes:
    """rdesktop 1.9's hardware id: the dword 2, then ``strncpy(hwid + 4, hostname, 16)``.

    rdesktop keeps at most 15 characters of ``-n NAME`` (``g_hostname[16]``); ``strncpy``
    pads the rest with NUL bytes.
    """
    name = machine_name.encode("utf-8")[:15]
    return struct.pack("<I", RDESKTOP_HWID_PLATFORM_ID) + name.ljust(16, b"\0")


def freerdp_hardware_id(machine_name: str) -> bytes:
    """FreeRDP 2's hardware id: PlatformId 0x04010000, then MD5 of the client host name."""
    digest = hashlib.md5(machine_name.encode("utf-8")).digest()
    return struct.pack("<I", FREERDP_PLATFORM_ID) + digest


HWID_DERIVATIONS = {"rdesktop": rdesktop_hardware_id, "freerdp": freerdp_hardware_id}
"""The real clients' derivations by client name (``rdplic client import``/``export``)."""


def hardware_id(platform: ClientPlatform, machine_name: str) -> bytes:
    """A stable 20-byte CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1) derived from a machine name.

    ``"rdesktop"`` presets: `rdesktop_hardware_id`.  Otherwise Data1-Data4 are the first 16
    bytes of MD5(machine name), as FreeRDP does, after the platform's PlatformId (so the
    ``freerdp`` preset gives `freerdp_hardware_id`).  Windows keeps a random id in the
    registry instead (R72): `rdplic client` draws one per machine directory; pass any 20
    bytes to the client to model that.
    """
    if platform.hwid_derivation == "rdesktop":
        return rdesktop_hardware_id(machine_name)
    hwid_platform = (
        platform.platform_id if platform.hwid_platform_id is None else platform.hwid_platform_id
    )
    digest = hashlib.md5(machine_name.encode("utf-8")).digest()
    return struct.pack("<I", hwid_platform) + digest
