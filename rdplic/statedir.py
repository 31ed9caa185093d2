"""Where rdplic keeps its state: keys, certificates, the SQLite store, the clock offset.

`rdplic serve` and every administration command resolve the same directory:
``--state-dir DIR`` when given, else ``$RDPLIC_STATE_DIR``, else the user's
XDG data directory (``~/.local/share/rdplic`` on Linux).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

from rdplic.errors import UsageError
from rdplic.files import readable_by_others

__all__ = [
    "ensure_state_dir",
    "existing_state_dir",
    "resolve_state_dir",
    "state_dir_warning",
    "usable_state_dir",
]

STORE_MARKER = "licenses.sqlite3"
"""The file whose presence makes a directory rdplic state (`rdplic.store.STORE_FILENAME`;
named here because the store's floor is above this module's)."""


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory to use (not created)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("RDPLIC_STATE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("rdplic", appauthor=False))


def ensure_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory, created with mode 0700 if missing.

    :raises UsageError: it is not a directory, cannot be created or cannot be written
        (one line naming the directory: the command line's exit status 2, issue 12)
    """
    path = resolve_state_dir(explicit)
    if path.exists() and not path.is_dir():
        raise UsageError(f"state directory {path} is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create state directory {path}: {_reason(error)}") from None
    _check_writable(path)
    return path


def existing_state_dir(
    explicit: str | os.PathLike[str] | None = None, *, require_store: bool = True
) -> Path:
    """The state directory of a read-only command: it must exist and hold rdplic's store.

    A read-only command never creates state: a mistyped ``--state-dir`` must not leave an
    empty directory and database behind and print an empty listing (issue 12).

    ``require_store=False`` for commands that read other state (the server identity).

    :raises UsageError: missing, not a directory, or no store in it
    """
    path = resolve_state_dir(explicit)
    if not path.exists():
        raise UsageError(
            f"state directory {path} does not exist (check --state-dir; "
            "rdplic serve and the commands that change state create it)"
        )
    if not path.is_dir():
        raise UsageError(f"state directory {path} is not a directory")
    if require_store and not (path / STORE_MARKER).is_file():
        raise UsageError(f"{path} holds no rdplic state (no {STORE_MARKER}; check --state-dir)")
    return path


def usable_state_dir(explicit: str | os.PathLike[str] | None, *, create: bool) -> Path:
    """`ensure_state_dir` when ``create``, else `existing_state_dir` (then also writable:
    the store reclaims expired licenses and keeps its journal there)."""
    if create:
        return ensure_state_dir(explicit)
    path = existing_state_dir(explicit)
    _check_writable(path)
    return path


def _check_writable(path: Path) -> None:
    """Create and remove a file in ``path``: the only test that holds for root, read-only
    mounts and ACLs alike (``os.access`` answers for the real uid, not what ``open`` does)."""
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".rdplic-probe-"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in state directory {path}: {_reason(error)}") from None


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


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
