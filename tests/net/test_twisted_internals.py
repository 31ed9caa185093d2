"""The Twisted internals `rdplic.net.server.EagerServer` relies on are still there.

The eager transport (a write goes out at once when nothing is queued) reads the write state
Twisted keeps on its file descriptors and subclasses ``tcp.Server`` and ``tcp.Port``; none of
that is public API.  pyproject.toml pins Twisted to the range these tests pass with; when a
newer Twisted moves a name, this fails with a message naming it instead of an AttributeError
in the middle of a connection.  Everything else in rdplic.net uses public API only (TLS is
rdplic's own, `rdplic.net.tls.TlsSession`; no ``startTLS``).
"""

from __future__ import annotations

import inspect

import pytest
import twisted
from twisted.internet import abstract, tcp
from twisted.internet.task import Clock

from rdplic.net.server import EagerPort, EagerServer

WHY = (
    "rdplic.net.server.EagerServer reads Twisted's private write state; Twisted {version} "
    "changed {name!r}: adapt _eager_write and the Twisted pin in pyproject.toml together"
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("dataBuffer", bytes),
        ("_tempDataBuffer", list),
        ("_writeDisconnected", bool),
        ("disconnecting", int),
        ("connected", int),
        ("producer", type(None)),
    ],
)
def test_file_descriptor_write_state(name: str, kind: type) -> None:
    """A fresh file descriptor has the write-state attributes the eager write checks."""
    descriptor = abstract.FileDescriptor(reactor=Clock())
    assert hasattr(descriptor, name), WHY.format(version=twisted.__version__, name=name)
    assert isinstance(getattr(descriptor, name), kind), WHY.format(
        version=twisted.__version__, name=name
    )


def test_queued_writes_land_where_the_eager_write_looks() -> None:
    """Twisted's own write queues into _tempDataBuffer, which is what tells the eager write
    that something is already waiting (so order is kept)."""
    descriptor = abstract.FileDescriptor(reactor=Clock())
    descriptor.connected = 1
    descriptor.startWriting = lambda: None  # type: ignore[method-assign]
    abstract.FileDescriptor.write(descriptor, b"queued")
    assert descriptor._tempDataBuffer == [b"queued"], WHY.format(
        version=twisted.__version__, name="_tempDataBuffer"
    )


def test_tcp_classes_still_fit() -> None:
    """tcp.Server has writeSomeData and the queueing write; tcp.Port builds its connections
    from its ``transport`` class attribute with the arguments EagerPort is given."""
    assert callable(getattr(tcp.Server, "writeSomeData", None)), WHY.format(
        version=twisted.__version__, name="tcp.Server.writeSomeData"
    )
    assert issubclass(EagerServer, tcp.Server) and EagerPort.transport is EagerServer
    assert "transport" in vars(tcp.Port) or hasattr(tcp.Port, "transport"), WHY.format(
        version=twisted.__version__, name="tcp.Port.transport"
    )
    parameters = list(inspect.signature(tcp.Port.__init__).parameters)
    assert parameters[:6] == ["self", "port", "factory", "backlog", "interface", "reactor"], (
        WHY.format(version=twisted.__version__, name="tcp.Port.__init__")
    )
