"""Run the project's own TLS client path (rdplic.app.build_client + rdplic.net.client, with
rdplic.net.tls.client_tls_context) once against ``rdplic serve`` on PORT, in a process where
pyOpenSSL and service_identity cannot be imported, and print the outcome as one JSON line.

Usage: python tls_client_probe.py PORT NAME   (run by tests/net/test_tls_client.py)
"""

from __future__ import annotations

import importlib.abc
import json
import sys
from typing import Any

BLOCKED = ("OpenSSL", "service_identity")


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses the modules a fresh install does not have (issue 12: ModuleNotFoundError:
    service_identity), so that nothing on this path can depend on them unnoticed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None


def main() -> int:
    sys.meta_path.insert(0, _Blocker())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    port, name = int(sys.argv[1]), sys.argv[2]

    from rdplic.app import build_client, install_reactor

    reactor = install_reactor()
    from rdplic.core import events as lic
    from rdplic.core.connection_events import SecurityNegotiated
    from rdplic.net.client import license_once

    result: dict[str, Any] = {}

    def done(outcome: Any) -> None:
        result["licensed"] = outcome.licensed
        result["error"] = outcome.error
        result["tls"] = any(
            isinstance(e, SecurityNegotiated) and e.start_tls for e in outcome.events
        )
        result["new_license"] = any(isinstance(e, lic.NewLicenseReceived) for e in outcome.events)
        reactor.stop()

    def failed(failure: Any) -> None:
        result["error"] = failure.getErrorMessage()
        reactor.stop()

    core = build_client(machine_name=name, user_name="tester", security="tls")
    reactor.callWhenRunning(
        lambda: license_once(reactor, "127.0.0.1", port, core, timeout=30).addCallbacks(
            done, failed
        )
    )
    reactor.run()
    result["blocked_loaded"] = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
