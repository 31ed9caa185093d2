"""Simulated clients for ``rdplic client`` and ``rdplic load``: machine directories on disk,
real clients' license files, one connection's result, and the load machinery.

On the net/wiring floor beside `rdplic.app` (whose `build_client` it uses) and
`rdplic.net.client` (which moves the bytes); below `rdplic.cli`.
"""
