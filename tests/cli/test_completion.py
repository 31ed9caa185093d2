"""Shell completion (argcomplete) of the installed ``rdplic`` command, as bash and zsh ask
for it once ``eval "$(register-python-argcomplete rdplic)"`` ran (README "Shell completion")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cli_process import SCRIPT

IFS = "\013"


def _complete(line: str, tmp_path: Path) -> list[str]:
    """What argcomplete offers for ``line`` with the cursor at its end."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": IFS,
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    result = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [word.strip() for word in out.read_text().split(IFS) if word.strip()]


@pytest.mark.skipif(not SCRIPT.exists(), reason="rdplic is not installed as a console script")
def test_commands_actions_and_options_complete(tmp_path: Path) -> None:
    """rdplic keyp<TAB> gives keypack; license <TAB> its actions; serve --sec<TAB> --security."""
    assert _complete("rdplic keyp", tmp_path) == ["keypack"]
    actions = _complete("rdplic license ", tmp_path)
    assert {"list", "show", "revoke", "transfer", "validate", "inspect"} <= set(actions)
    assert _complete("rdplic serve --sec", tmp_path) == ["--security"]


@pytest.mark.skipif(not SCRIPT.exists(), reason="rdplic is not installed as a console script")
def test_register_script_for_bash_and_zsh() -> None:
    """register-python-argcomplete (installed with rdplic) writes the hook for both shells."""
    register = SCRIPT.with_name("register-python-argcomplete")
    for shell in ("bash", "zsh"):
        hook = subprocess.run(
            [str(register), "--shell", shell, "rdplic"], capture_output=True, text=True, timeout=60
        )
        assert hook.returncode == 0 and "rdplic" in hook.stdout, hook.stderr
