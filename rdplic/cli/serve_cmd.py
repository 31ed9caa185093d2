"""``rdplic serve``: the RDP front end that real clients connect to and get licensed by.

It listens like a Windows RD Session Host with its license server: X.224 negotiation
(Standard RDP Security and/or TLS, never CredSSP), the MCS/GCC connection sequence, the
Security Exchange, the Client Info PDU and the licensing phase, after which it ends the
connection the way a server that hosts no session does.  State (keys, certificates, the
SQLite store) lives in the state directory, created on first start.

Twisted runs on its asyncio reactor, installed here and nowhere else.  SIGTERM (or
SIGINT) stops accepting connections, lets the ones in flight finish for ``--shutdown-grace``
seconds, then closes the store.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rdplic.cli.conventions import add_examples, check_writable_file
from rdplic.errors import UsageError

__all__ = ["register", "run"]

_WINDOWS_CHOICES = (
    *("2000", "2003", "2008", "2008R2", "2012", "2012R2"),
    *("2016", "2019", "2022", "2025"),
)

_SECURITY_CHOICES = ("rdp", "tls", "rdp,tls")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the RDP front end: real clients connect and are issued CALs",
        description=(
            "Listen for RDP clients as a Windows RD Session Host with its license server: "
            "run the connection sequence and the licensing phase, issue CALs, then end the "
            "connection. State lives in --state-dir (created on first start)."
        ),
    )
    add_examples(
        parser,
        "rdplic serve",
        "rdplic serve --port 33890 --state-dir /tmp/lab --log-format json",
        "rdplic serve --web 127.0.0.1:8089",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=3389, help="TCP port (0: any free port) [3389]")
    parser.add_argument("--state-dir", metavar="DIR", help="state directory (default: XDG data)")
    parser.add_argument(
        "--security",
        default="rdp,tls",
        choices=_SECURITY_CHOICES,
        metavar="rdp|tls|rdp,tls",
        help="security layers offered: rdp (Standard RDP Security), tls, or both "
        "(TLS when the client offers it) [rdp,tls]",
    )
    parser.add_argument(
        "--encryption-level",
        default="client-compatible",
        choices=("client-compatible", "high"),
        help="Standard RDP Security encryption level [client-compatible]",
    )
    parser.add_argument(
        "--windows",
        metavar="VERSION",
        choices=_WINDOWS_CHOICES,
        help="emulated Windows Server release (stored; default: the stored one, else 2019)",
    )
    parser.add_argument(
        "--licensing-mode",
        choices=("per-device", "per-user", "personal", "remote-admin", "valid-client-only"),
        help="licensing mode (stored; default: the stored one, else per-device)",
    )
    parser.add_argument(
        "--first-license",
        choices=("temporary", "permanent"),
        help="what a new device gets first (stored; default: the stored one, else temporary)",
    )
    parser.add_argument(
        "--license-certificate",
        choices=("x509", "proprietary"),
        default="x509",
        help="certificate in the Server License Request: the X.509 chain the license server "
        "issued (as Windows with a license server) or the proprietary one [x509]",
    )
    parser.add_argument(
        "--demand-active",
        action="store_true",
        help="after licensing, send a Demand Active and wait for Confirm Active before "
        "disconnecting (clients then report the capability exchange)",
    )
    parser.add_argument("--capture", metavar="FILE", help="record every session to FILE (pcapng)")
    parser.add_argument(
        "--capture-secrets",
        action="store_true",
        help="also record the server's private keys and session secrets in the capture (byte "
        "for byte replay; the capture is then a secret)",
    )
    parser.add_argument(
        "--tls-keylog", metavar="FILE", help="append TLS secrets to FILE (NSS key log format)"
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log format [text]"
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warn", "error"), default="info", help="[info]"
    )
    parser.add_argument("--log-file", metavar="FILE", help="log there instead of stderr")
    parser.add_argument(
        "--max-connections", type=int, default=10_000, help="open connections at once [10000]"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=30.0, help="seconds without data [30]"
    )
    parser.add_argument(
        "--total-timeout", type=float, default=120.0, help="seconds per connection [120]"
    )
    parser.add_argument(
        "--max-frame-size", type=int, default=16384, help="largest frame accepted [16384]"
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds in-flight handshakes get to finish on SIGTERM [10]",
    )
    parser.add_argument("--backlog", type=int, default=1024, help="listen backlog [1024]")
    # Scale-out (rdplic.net.workers, rdplic.store.postgres).
    parser.add_argument(
        "--db",
        metavar="URL",
        help="shared license database postgresql://... (default: SQLite in the state directory)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port and the store [1]",
    )
    # -- the web console (rdplic.web)
    parser.add_argument(
        "--web",
        metavar="HOST:PORT",
        help="also serve the licensing manager in the browser there (e.g. 127.0.0.1:8089)",
    )
    parser.add_argument(
        "--web-allow-remote",
        action="store_true",
        help="let --web listen on a non-loopback address (needs a token)",
    )
    parser.add_argument(
        "--web-token-file",
        metavar="FILE",
        help="the web console's token (default: $RDPLIC_WEB_TOKEN); needed with --web-allow-remote",
    )
    # -- hostile-server mode (rdplic.hostile): a server for fuzzing clients
    parser.add_argument(
        "--hostile",
        metavar="PROFILE",
        help="mutate the licensing PDUs sent as PROFILE says, to fuzz clients "
        "('--hostile list' lists the profiles)",
    )
    parser.add_argument(
        "--hostile-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of --hostile: the same profile and seed send the same bytes [0]",
    )
    parser.set_defaults(func=run)


def _hostile(args: argparse.Namespace) -> bool:
    """Check --hostile; print the profiles for ``--hostile list`` (True: nothing more to do)."""
    if args.hostile is None:
        return False
    from rdplic.hostile import PROFILES, profile_listing

    if args.hostile == "list":
        print("\n".join(profile_listing()))
        return True
    if args.hostile not in PROFILES:
        raise UsageError(
            f"--hostile: no profile {args.hostile!r} (rdplic serve --hostile list shows them)"
        )
    if not 0 <= args.hostile_seed < 2**63:
        raise UsageError("--hostile-seed must be 0 to 2^63-1")
    return False


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {args.port}")
    if args.max_connections < 1:
        raise UsageError("--max-connections must be at least 1")
    if args.capture_secrets and not args.capture:
        raise UsageError("--capture-secrets needs --capture FILE")
    for name in ("idle_timeout", "total_timeout", "shutdown_grace"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if not 1024 <= args.max_frame_size <= 0xFFFF:
        raise UsageError("--max-frame-size must be 1024 to 65535")
    if not 1 <= args.workers <= 64:
        raise UsageError("--workers must be 1 to 64")
    if args.workers > 1 and args.capture:
        raise UsageError("--capture takes one process: not with --workers")
    if args.workers > 1 and args.web:
        raise UsageError("--web takes one process: not with --workers")
    if args.db and not args.db.startswith(("postgresql://", "postgres://")):
        raise UsageError("--db must be a postgresql:// URL")


def _web(args: argparse.Namespace) -> Any:
    """The `rdplic.web.WebOptions` of --web, --web-allow-remote and the token, or None."""
    if args.web is None:
        if args.web_allow_remote or args.web_token_file:
            raise UsageError("--web-allow-remote and --web-token-file need --web HOST:PORT")
        return None
    from rdplic.web import parse_web_address

    token = os.environ.get("RDPLIC_WEB_TOKEN") or None
    if args.web_token_file:
        try:
            token = Path(args.web_token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read --web-token-file: {error}") from None
    return parse_web_address(args.web, allow_remote=args.web_allow_remote, token=token)


def run(args: argparse.Namespace) -> int:
    """Start the server and run until SIGTERM / SIGINT."""
    _check(args)
    if _hostile(args):
        return 0
    web = _web(args)
    from rdplic.app import ServeOptions, build_server, serve_forever
    from rdplic.net.server import ServerLimits
    from rdplic.statedir import ensure_state_dir

    state_dir = ensure_state_dir(args.state_dir)
    # Files appended to later are checked now: a mistake is one line at start, not a
    # traceback at the first connection (rdplic.cli.conventions).
    check_writable_file(args.log_file, "--log-file")
    check_writable_file(args.tls_keylog, "--tls-keylog")
    check_writable_file(args.capture, "--capture")
    options = ServeOptions(
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        limits=ServerLimits(
            max_connections=args.max_connections,
            idle_timeout=args.idle_timeout,
            total_timeout=args.total_timeout,
        ),
        tls_keylog=Path(args.tls_keylog) if args.tls_keylog else None,
        capture=Path(args.capture) if args.capture else None,
        capture_secrets=args.capture_secrets,
        log_format=args.log_format,
        log_level=args.log_level,
        log_file=Path(args.log_file) if args.log_file else None,
        shutdown_grace=args.shutdown_grace,
        web=web,
        hostile=args.hostile,
        hostile_seed=args.hostile_seed,
    )

    def make_server() -> Any:
        return build_server(
            state_dir,
            security=args.security,
            encryption_level=args.encryption_level,
            windows=args.windows,
            licensing_mode=args.licensing_mode,
            first_license=args.first_license,
            license_certificate=args.license_certificate,
            demand_active=args.demand_active,
            max_frame_size=args.max_frame_size,
            # Group commit: the decisions of one reactor turn share one commit.
            group_commit=True,
            db=args.db,
        )

    if args.workers > 1:
        from rdplic.net.workers import serve_workers

        return serve_workers(make_server, options, args.workers, serve_forever)
    return serve_forever(make_server, options)
