"""A server on `rdplic.net.server.listen_tcp` for test_eager_transport (run as a script).

Each line ``N`` it receives is answered with N bytes of a counting pattern; the line
``stats`` with how many answers went out at once (nothing queued after ``write``) and how
many were queued in part, as JSON.  Prints ``PORT <n>`` once listening on loopback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twisted.internet import asyncioreactor

asyncioreactor.install()

from twisted.internet import reactor  # noqa: E402
from twisted.internet.protocol import Factory, Protocol  # noqa: E402

from rdplic.net.server import listen_tcp  # noqa: E402

STATS = {"immediate": 0, "queued": 0}


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


class Answer(Protocol):
    def __init__(self) -> None:
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line == b"stats":
                self.transport.write(json.dumps(STATS).encode() + b"\n")  # type: ignore[union-attr]
                continue
            self.transport.write(pattern(int(line)))  # type: ignore[union-attr]
            transport = self.transport
            queued = transport._tempDataBuffer or transport.dataBuffer  # type: ignore[union-attr]
            STATS["queued" if queued else "immediate"] += 1


port = listen_tcp(reactor, 0, Factory.forProtocol(Answer), interface="127.0.0.1")
print(f"PORT {port.getHost().port}", flush=True)
reactor.callLater(60, reactor.stop)  # type: ignore[attr-defined]
reactor.run()  # type: ignore[attr-defined]
