"""What the capture tests share: tshark, which decrypts the TLS of captures other tools made."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tshark() -> None:
    """Skip without tshark; under CI=true (where .ci/run installs it) fail instead."""
    if shutil.which("tshark") is not None:
        return
    message = "tshark is not installed (apt-get install tshark): it decrypts TLS captures"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)
