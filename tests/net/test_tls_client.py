"""The project's own TLS client path against a live ``rdplic serve`` (issue 12).

A fresh install once failed here with ``ModuleNotFoundError: No module named
'service_identity'``: the client path went through Twisted's TLS, which needs pyOpenSSL and
service_identity, neither of them a dependency.  TLS is now the standard library's ssl
module (rdplic.net.tls); the client runs in a process that cannot import either module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_serve_process import ROOT, Serve

PROBE = Path(__file__).with_name("tls_client_probe.py")


def test_tls_client_is_licensed_by_a_live_server_without_pyopenssl(tmp_path: Path) -> None:
    """rdplic.app.build_client(security="tls") through rdplic.net.client gets a license from
    rdplic serve over TLS, with pyOpenSSL and service_identity unimportable."""
    serve = Serve(tmp_path / "state", "--security", "tls")
    try:
        probe = subprocess.run(
            [sys.executable, str(PROBE), str(serve.port), "TLSPROBE"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        assert serve.stop() == 0
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result == {
        "licensed": True,
        "error": "",
        "tls": True,
        "new_license": True,
        "blocked_loaded": [],
    }, probe.stderr
    assert "outcome=new_license" in serve.log_text()


def test_the_package_declares_no_pyopenssl_dependency() -> None:
    """Nothing the package requires pulls pyOpenSSL or service_identity in: the installed
    metadata of rdplic and of every requirement, followed through, names neither."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = ["rdplic"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            needed = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in needed:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue  # an optional extra nobody asked for
            todo.append(requirement.name)
    assert "rdplic" in seen and "twisted" in seen
    assert not seen & {"pyopenssl", "service-identity"}, sorted(seen)
