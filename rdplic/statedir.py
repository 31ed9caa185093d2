"""Where rdplic keeps its state: keys, certificates, the SQLite store, the clock offset.

`rdplic serve` and every administration command resolve the same directory:
``--state-dir DIR`` when given, else ``$RDPLIC_STATE_DIR``, else the user's
XDG data directory (``~/.local/share/rdplic`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from rdplic.files import readable_by_others

__all__ = ["ensure_state_dir", "resolve_state_dir", "state_dir_warning"]


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


def state_dir_warning(path: Path) -> str | None:
    """One line to show when other users can read or enter the state directory.

    The files in it are created 0600 whatever the directory's mode (keys, the license
    database and its WAL), but its listing still shows who uses the server and when.
    """
    mode = readable_by_others(path)
    if mode is None:
        return None
    return (
        f"state directory {path} is open to other users (mode {mode:04o}); "
        f"its files are 0600, but consider chmod 700 {path}"
    )
