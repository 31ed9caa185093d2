"""Files that hold secrets: created mode 0600, whatever the umask.

Captures hold decrypted sessions (the Client Info password among them), TLS key logs hold
session secrets, logs name users and devices, and the license database holds every CAL the
server signed.  None of them may follow the process umask (0644 under the usual 022, 0666
under 000): they are created with mode 0600, and an existing one that other users could
read is narrowed to 0600 before anything is written to it (architecture invariant 9).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Literal, overload

__all__ = ["PRIVATE_MODE", "make_private", "open_private", "readable_by_others"]

PRIVATE_MODE = 0o600
"""Read and write for the owner, nothing for anyone else."""


def make_private(path: str | os.PathLike[str]) -> None:
    """Narrow an existing file that others could read or write to mode 0600."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) and mode & 0o077:
        os.chmod(path, PRIVATE_MODE)


@overload
def open_private(
    path: str | os.PathLike[str], *, append: bool = ..., text: Literal[False] = ...
) -> IO[bytes]: ...


@overload
def open_private(
    path: str | os.PathLike[str], *, append: bool = ..., text: Literal[True]
) -> IO[str]: ...


def open_private(
    path: str | os.PathLike[str], *, append: bool = False, text: bool = False
) -> IO[bytes] | IO[str]:
    """Open ``path`` for writing (appending or truncating), created 0600.

    :raises OSError: the file cannot be created or written (the caller names it)
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_MODE)  # it existed, readable by others
        if text:
            return os.fdopen(fd, "a" if append else "w", encoding="utf-8")
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def readable_by_others(directory: str | os.PathLike[str]) -> int | None:
    """The mode of ``directory`` when users other than its owner can read or enter it."""
    try:
        mode = Path(directory).stat().st_mode
    except OSError:
        return None
    return stat.S_IMODE(mode) if mode & 0o077 else None
