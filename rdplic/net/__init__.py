"""Twisted adapters: the only code that touches sockets (architecture invariant 8).

`server` holds the Protocol and Factory of ``rdplic serve``; `tls` the certificate kept in the
state directory and the pyOpenSSL context; `client` the connector that drives the simulated
client core over TCP (benchmarks, tests).
"""
