"""T.125 values shared by the MCS PDUs: user channel ids, Result, Reason, DataPriority and
Segmentation ([T125] section 7; MS-RDPBCGR 2.2.1.4.4 MCSChannelId, 2.2.1.7, 2.2.1.9, 2.2.2.3).
"""

from __future__ import annotations

import enum

__all__ = [
    "MCS_BASE_CHANNEL_ID",
    "MCS_GLOBAL_CHANNEL",
    "DataPriority",
    "McsResult",
    "Reason",
    "Segmentation",
]

MCS_BASE_CHANNEL_ID = 1001
"""UserId ::= DynamicChannelId (1001..65535): PER sends a user id as ``id - 1001``."""

MCS_GLOBAL_CHANNEL = 1003
"""The MCS I/O channel of every Windows server (SC_NET MCSChannelId)."""


class McsResult(enum.IntEnum):
    """T.125 Result (used by Connect-Response, Attach User Confirm, Channel Join Confirm)."""

    RT_SUCCESSFUL = 0
    RT_DOMAIN_MERGING = 1
    RT_DOMAIN_NOT_HIERARCHICAL = 2
    RT_NO_SUCH_CHANNEL = 3
    RT_NO_SUCH_DOMAIN = 4
    RT_NO_SUCH_USER = 5
    RT_NOT_ADMITTED = 6
    RT_OTHER_USER_ID = 7
    RT_PARAMETERS_UNACCEPTABLE = 8
    RT_TOKEN_NOT_AVAILABLE = 9
    RT_TOKEN_NOT_POSSESSED = 10
    RT_TOO_MANY_CHANNELS = 11
    RT_TOO_MANY_TOKENS = 12
    RT_TOO_MANY_USERS = 13
    RT_UNSPECIFIED_FAILURE = 14
    RT_USER_REJECTED = 15


class Reason(enum.IntEnum):
    """T.125 Reason of Disconnect Provider Ultimatum."""

    RN_DOMAIN_DISCONNECTED = 0
    RN_PROVIDER_INITIATED = 1
    RN_TOKEN_PURGED = 2
    RN_USER_REQUESTED = 3
    RN_CHANNEL_PURGED = 4


class DataPriority(enum.IntEnum):
    """T.125 DataPriority of Send Data (RDP uses HIGH)."""

    TOP = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Segmentation(enum.IntFlag):
    """T.125 Segmentation BIT STRING {begin(0), end(1)} as a 2-bit value (RDP: both)."""

    END = 0x1
    BEGIN = 0x2
