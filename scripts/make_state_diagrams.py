"""Write docs/state-diagrams.md from the licensing machines' transition tables.

Run after changing rdplic/core/states.py:  .venv/bin/python scripts/make_state_diagrams.py
(tests/core/test_diagrams.py fails while the page is out of date).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rdplic.core.diagrams import render_markdown  # noqa: E402

TARGET = ROOT / "docs" / "state-diagrams.md"


def main() -> int:
    TARGET.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
