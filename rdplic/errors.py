"""Errors of the application layers (everything but `pdu/`, which has `PduError`)."""

from __future__ import annotations

__all__ = ["RdplicError", "UsageError"]


class RdplicError(Exception):
    """Base of rdplic's own errors; the command line prints them as one line."""


class UsageError(RdplicError):
    """Bad input at the command line or in an administration request; nothing was changed."""
