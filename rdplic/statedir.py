"""Where rdplic keeps its state: keys, certificates, the SQLite store, the clock offset.

`rdplic serve` and every administration command resolve the same directory:
``--state-dir DIR`` when given, else ``$RDPLIC_STATE_DIR``, else the user's
XDG data directory (``~/.local/share/rdplic`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["ensure_state_dir", "resolve_state_dir"]


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory to use (not created)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("RDPLIC_STATE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("rdplic", appauthor=False))


def ensure_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory, created with mode 0700 if missing."""
    path = resolve_state_dir(explicit)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
