"""Captures that replay: pcapng recordings of RDP sessions, read back, decoded and replayed.

* `rdplic.capture.pcap`: pcapng written and read with scapy (TCP streams reassembled from
  any capture: retransmissions, out-of-order segments, interleaved connections, Ethernet,
  Linux cooked and raw IP framing; TLS decrypted by tshark with the file's Decryption
  Secrets Block or a key log).
* `rdplic.capture.recording`: what a connection's recording holds besides its bytes (the
  randomness drawn, the clock values, the license server's decisions, the certificates,
  rdplic's version and, opted in, the secrets), as JSON in a packet comment.
* `rdplic.capture.recorder`: the recorder the adapters call (``rdplic serve --capture``);
  no Twisted in it, so any adapter can use it.
* `rdplic.capture.decode`: every frame of every connection, as ``rdplic pdu decode`` shows
  one, with Standard RDP Security and licensing decryption when the keys are known.
* `rdplic.capture.replay`: ``rdplic replay``: a recorded session fed again to the cores.

``pytest --rdplic-captures DIR`` is `rdplic.cli.pytest_plugin` (it wires clients through
`rdplic.app`, which this package may not import).

Floor: with `rdplic.net` and `rdplic.app` (wiring): it uses the cores, the crypto and the
PDUs, never the network adapter.
"""
