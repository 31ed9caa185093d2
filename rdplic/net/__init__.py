"""Twisted adapters: the only code that touches sockets (architecture invariant 8).

`server` holds the Protocol and Factory of ``rdplic serve``; `decider` asks the license
server and hands decisions back once they are durable; `tls` the certificate kept in the
state directory, the contexts and `TlsSession` (TLS over the TCP stream, the standard
library's ``ssl`` on memory BIOs); `client` the connector that drives the simulated client
core over TCP (benchmarks, tests); `capture` the pcapng writer.
"""
