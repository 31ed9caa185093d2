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
  revision 0 (0x03010000); Windows XP: the same OS id with revision 1 (NT 5.1,
  0x03010001).  XP Home and XP Professional send the same PlatformId (no public
  source tells them apart; the license service's ``builtin_platforms`` pattern
  decides which of them the built-in pool serves).
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
    "RDESKTOP_QUIRKS",
    "ClientPlatform",
    "ClientQuirks",
    "hardware_id",
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


_WINDOWS_2000 = 0x03010000  # CLIENT_OS_ID_WINNT_50 | CLIENT_IMAGE_ID_MICROSOFT
_WINDOWS_XP = 0x03010001  # the same, OS revision 1 (NT 5.1)
_WINDOWS_POST_52 = 0x04010000  # CLIENT_OS_ID_WINNT_POST_52 | CLIENT_IMAGE_ID_MICROSOFT
_WINDOWS_POST_100 = 0x08010000  # CLIENT_OS_ID_WINNT_POST_100 | CLIENT_IMAGE_ID_MICROSOFT
_OTHER_MICROSOFT = 0xFF010000  # OS "other", image from Microsoft

_PRESETS = (
    ClientPlatform("windows-2000-professional", _WINDOWS_2000, extended_error_supported=False),
    ClientPlatform("windows-xp-professional", _WINDOWS_XP),
    ClientPlatform("windows-xp-home", _WINDOWS_XP),
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
    ),
    ClientPlatform(
        "rdesktop-rdp4",
        _OTHER_MICROSOFT,
        license_info_platform_id=0x02010000,
        preamble_version=PreambleVersion.PREAMBLE_VERSION_2_0,
        extended_error_supported=False,
        quirks=RDESKTOP_QUIRKS,
    ),
)

CLIENT_PLATFORMS: Mapping[str, ClientPlatform] = MappingProxyType({p.name: p for p in _PRESETS})
"""The presets by name: Windows 2000 Professional to Windows 11, macOS, FreeRDP, rdesktop."""


def hardware_id(platform: ClientPlatform, machine_name: str) -> bytes:
    """A stable 20-byte CLIENT_HARDWARE_ID (MS-RDPELE 2.2.2.3.1) derived from a machine name.

    Data1-Data4 are the first 16 bytes of MD5(machine name), as FreeRDP does;
    the PlatformId is the platform's.  Windows keeps a random id in the
    registry instead (R72): pass any 20 bytes to the client to model that.
    """
    hwid_platform = (
        platform.platform_id if platform.hwid_platform_id is None else platform.hwid_platform_id
    )
    digest = hashlib.md5(machine_name.encode("utf-8")).digest()
    return struct.pack("<I", hwid_platform) + digest
