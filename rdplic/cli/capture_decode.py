"""``rdplic pdu decode FILE.pcapng``: every frame of every connection of a capture.

Each frame is printed as ``{"connection_id": N, "direction": ..., "frame": N, "layers": [...]}``
(`rdplic.capture.decode`); ``--connection`` and ``--frame`` pick one.  The keys that
decrypt Standard RDP Security and licensing come from the capture itself (recorded with
``--capture-secrets``), from ``--state-dir`` (the recording server's identity), or from
``--proprietary-key`` (Standard RDP Security: ``identity/proprietary-key.pem``) and
``--server-key`` (licensing under the X.509 chain: ``identity/terminal-server-key.pem``).
TLS is decrypted with the capture's Decryption Secrets Block or ``--keylog`` (by tshark).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rdplic.cli.admin_common import emit_json
from rdplic.errors import UsageError

__all__ = ["add_options", "decode_capture"]


def add_options(parser: Any) -> None:
    """The options of ``pdu decode`` that only a capture uses."""
    group = parser.add_argument_group("captures", "a pcapng FILE: every frame of every connection")
    group.add_argument("--connection", type=int, metavar="N", help="only connection N (from 1)")
    group.add_argument("--frame", type=int, metavar="N", help="only frame N")
    group.add_argument("--keylog", metavar="FILE", help="TLS key log (NSS format) for TLS sessions")
    group.add_argument(
        "--state-dir", metavar="DIR", help="the recording server's state directory (its keys)"
    )
    group.add_argument(
        "--proprietary-key",
        metavar="FILE",
        help="key of the proprietary certificate: decrypts Standard RDP Security",
    )


def _load(path: Path) -> Any:
    from rdplic.crypto import load_private_key
    from rdplic.crypto.errors import CryptoError

    try:
        return load_private_key(path.read_bytes())
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except CryptoError as error:
        raise UsageError(f"{path}: {error}") from None


def decode_capture(path: str, args: argparse.Namespace) -> int:
    from rdplic.capture.decode import SessionKeys, decode_connection
    from rdplic.capture.pcap import read_capture
    from rdplic.capture.replay import recordings

    keys: list[Any] = []
    proprietary = None
    if args.state_dir:
        identity = Path(args.state_dir) / "identity"
        if not identity.is_dir():
            raise UsageError(f"{args.state_dir}: no identity/ (not an rdplic state directory)")
        proprietary = _load(identity / "proprietary-key.pem")
        keys += [_load(identity / "terminal-server-key.pem"), proprietary]
    if args.proprietary_key:
        proprietary = _load(Path(args.proprietary_key))
        keys.append(proprietary)
    if args.server_key:
        keys.insert(0, _load(Path(args.server_key)))
    connections = read_capture(Path(path), keylog=Path(args.keylog) if args.keylog else None)
    if args.connection is not None and not 1 <= args.connection <= len(connections):
        raise UsageError(f"--connection {args.connection}: the capture has {len(connections)}")
    out = []
    for connection in connections:
        if args.connection is not None and connection.index != args.connection:
            continue
        recording = recordings(connection)
        session = SessionKeys(proprietary, tuple(keys))
        if recording is not None and recording.secrets:
            own = recording.private_key("proprietary_key")
            licensing = recording.private_key("licensing_key")
            session = SessionKeys(
                session.proprietary or own,
                tuple(k for k in (*keys, licensing, own) if k is not None),
            )
        for frame in decode_connection(connection, session):
            if args.frame is None or frame.frame == args.frame:
                out.append(frame.to_json())
    if args.frame is not None and not out:
        raise UsageError(f"--frame {args.frame}: no RDP PDU ends in that frame")
    emit_json(out)
    return 0
