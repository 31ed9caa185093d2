"""The README's Python examples run as written and print what the README says they print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"```python\n(.*?)```\n+(It prints [^\n]*)?", re.S)


def _examples() -> list[tuple[int, str, list[str]]]:
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        said = match.group(2) or ""
        # "It prints `A` and `B`: ..." -> every backticked text before the colon.
        expected = re.findall(r"`([^`]+)`", said.split(":")[0])
        found.append((line, match.group(1), expected))
    return found


EXAMPLES = _examples()


def test_the_readme_has_python_examples_that_say_what_they_print() -> None:
    """Every Python block of the README is followed by what it prints (so it is checked)."""
    assert len(EXAMPLES) >= 2
    assert all(expected for _, _, expected in EXAMPLES), [
        line for line, _, expected in EXAMPLES if not expected
    ]


@pytest.mark.parametrize(
    ("line", "code", "expected"), EXAMPLES, ids=[f"README.md:{e[0]}" for e in EXAMPLES]
)
def test_a_readme_example_runs_and_prints_what_the_readme_says(
    line: int, code: str, expected: list[str], tmp_path: Path
) -> None:
    """The example runs in a fresh interpreter (HOME in a temporary directory) and its
    output holds every text the README says it prints."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, (text, done.stdout)
