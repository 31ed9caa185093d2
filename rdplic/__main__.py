"""``python -m rdplic``: the ``rdplic`` command, for an interpreter whose scripts directory is
not on PATH (a virtual environment that is not activated)."""

import sys

from rdplic.cli.main import main

sys.exit(main())
