"""``rdplic client``: one simulated client machine, with its licenses on disk.

Connect to an RDP server as a simulated client (the connection sequence and the licensing
phase, then a clean disconnect) and say what happened; forget the machine's licenses (or
its whole MSLicensing key); list them; and hand them to FreeRDP or rdesktop and back.

``rdplic client HOST[:PORT]`` connects; ``rdplic client forget [--all]``, ``rdplic client
licenses``, ``rdplic client import FILE --format F`` and ``rdplic client export --format F``
work on the machine directory (``--machine-dir``, default
``$XDG_DATA_HOME/rdplic/machines/NAME``).  Exit status of a connection: 0 licensed (new,
upgraded, reissued or valid client), 3 refused by licensing, 4 connection or protocol
failure, 5 time-out; 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rdplic.cli.conventions import add_examples, add_json_option, emit_json
from rdplic.errors import UsageError

__all__ = ["EXIT_CODES", "register", "run"]

ACTIONS = ("forget", "licenses", "import", "export")

EXIT_LICENSED = 0
EXIT_REFUSED = 3
EXIT_FAILED = 4
EXIT_TIMEOUT = 5
EXIT_CODES = {
    "licensed": EXIT_LICENSED,
    "usage": 2,
    "refused": EXIT_REFUSED,
    "failed": EXIT_FAILED,
    "timeout": EXIT_TIMEOUT,
}
"""``rdplic client HOST``'s exit statuses (README "rdplic client")."""

_SECURITY = ("negotiate", "tls", "rdp", "rdp-legacy")


def register(subparsers: Any) -> None:
    doc = __doc__ or ""
    parser = subparsers.add_parser(
        "client",
        help="a simulated client machine: connect and get licensed, forget, list, import, export",
        description=" ".join(doc.split("\n\n")[1:3]),
    )
    add_examples(
        parser,
        "rdplic client 127.0.0.1:33890 --name PC7 --platform windows-xp-home --security rdp",
        "rdplic client licenses --name PC7",
        "rdplic client forget --all --name PC7",
        "rdplic client export --format freerdp --machine-dir /tmp/tux",
    )
    parser.add_argument(
        "words",
        nargs="+",
        metavar="HOST[:PORT] | ACTION",
        help="server to connect to (port 3389 by default), or forget, licenses, import FILE, "
        "export",
    )
    machine = parser.add_argument_group("the machine")
    machine.add_argument("--machine-dir", metavar="DIR", help="the machine's directory")
    machine.add_argument("--name", help="client machine name (stored; default RDPLIC-PC)")
    machine.add_argument("--user", default="user", help="user name sent [user]")
    machine.add_argument("--password", default="", help="password sent in Client Info")
    machine.add_argument(
        "--platform",
        help="platform preset (stored; default windows-10): windows-2000-professional, "
        "windows-xp-professional, windows-xp-home, windows-server-2003, windows-vista, "
        "windows-7, windows-8.1, windows-10, windows-11, macos, freerdp, rdesktop, rdesktop-rdp4",
    )
    machine.add_argument("--hwid", metavar="HEX", help="20-byte hardware id (stored)")
    connect = parser.add_argument_group("connecting")
    connect.add_argument(
        "--security",
        choices=_SECURITY,
        metavar="negotiate|tls|rdp|rdp-legacy",
        default="negotiate",
        help="negotiate (offer TLS and RDP), tls, rdp (Standard RDP Security), rdp-legacy "
        "(no RDP_NEG_REQ, as RDP 5 clients) [negotiate]",
    )
    connect.add_argument(
        "--encryption", type=int, choices=(40, 56, 128), help="RC4 key size offered [all]"
    )
    connect.add_argument("--timeout", type=float, default=30.0, help="seconds [30]")
    connect.add_argument("--capture", metavar="FILE", help="record the session (pcapng)")
    actions = parser.add_argument_group("actions")
    actions.add_argument("--all", action="store_true", help="forget: the hardware id too")
    actions.add_argument("--format", choices=("freerdp", "rdesktop"), help="import/export")
    actions.add_argument("--to", metavar="DIR", help="export: directory (the client's own)")
    actions.add_argument("--license", type=int, metavar="N", help="export: LICENSE00N")
    add_json_option(parser)
    parser.set_defaults(func=run)


def _machine(args: argparse.Namespace, *, create: bool = True) -> Any:
    from rdplic.simclient.machine import MachineDirectory

    hwid = None
    if args.hwid is not None:
        try:
            hwid = bytes.fromhex(args.hwid)
        except ValueError:
            raise UsageError(f"--hwid {args.hwid!r} is not hex") from None
    if args.name is not None and not 0 < len(args.name) <= 15:
        raise UsageError("--name must be 1 to 15 characters (a NetBIOS name)")
    return MachineDirectory.open(
        args.machine_dir,
        client_name=args.name,
        platform=args.platform,
        hwid=hwid,
        create=create,
    )


_emit = emit_json


def run(args: argparse.Namespace) -> int:
    word, rest = args.words[0], args.words[1:]
    if word in ACTIONS:
        expected = 1 if word == "import" else 0
        if len(rest) != expected:
            raise UsageError(
                f"client {word} takes {'one FILE' if expected else 'no argument'}, got {len(rest)}"
            )
        if word == "import":
            return _import(args, rest[0])
        handlers = {"forget": _forget, "licenses": _licenses, "export": _export}
        return handlers[word](args)
    if rest:
        raise UsageError(f"unexpected arguments after {word}: {' '.join(rest)}")
    return _connect(args, word)


# -- connecting -----------------------------------------------------------------------


def parse_target(text: str, default_port: int = 3389) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT``."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise UsageError(f"{text!r} names no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"port {port_text!r} is not 1 to 65535")
    return host, int(port_text)


def _connect(args: argparse.Namespace, target: str) -> int:
    host, port = parse_target(target)
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    machine = _machine(args)
    from rdplic.net.client import open_client_capture
    from rdplic.simclient.results import ConnectionResult
    from rdplic.simclient.session import connect_device, run_until_fired

    capture = None
    if args.capture:
        try:
            capture = open_client_capture(args.capture)
        except OSError as error:
            raise UsageError(f"cannot write {args.capture}: {error.strerror}") from None

    def start(reactor: Any) -> Any:
        return connect_device(
            reactor,
            host,
            port,
            machine_name=machine.client_name,
            user_name=args.user,
            platform=machine.platform,
            hwid=machine.hwid,
            store=machine,
            security=args.security,
            encryption=args.encryption,
            timeout=args.timeout,
            capture=capture,
        )

    try:
        result: ConnectionResult = run_until_fired(start)
    finally:
        if capture is not None:
            capture.close()
    report = {
        **result.to_json(),
        "peer": f"{host}:{port}",
        "client_name": machine.client_name,
        "user_name": args.user,
        "platform": machine.platform.name,
        "platform_id": machine.platform.platform_id,
        "hwid": machine.hwid.hex(),
        "machine_dir": str(machine.path),
    }
    if args.json:
        _emit(report)
    else:
        _print_result(result, report)
    return _exit_status(result)


def _exit_status(result: Any) -> int:
    from rdplic.vocabulary import Outcome

    if result.outcome.licensed:
        return EXIT_LICENSED
    if result.outcome is Outcome.REFUSED:
        return EXIT_REFUSED
    if result.outcome is Outcome.TIMEOUT:
        return EXIT_TIMEOUT
    return EXIT_FAILED


def _print_result(result: Any, report: dict[str, Any]) -> None:
    from rdplic.vocabulary import Outcome

    server = report["server"]
    layer = {"tls": "TLS", "rdp": "Standard RDP Security"}.get(result.security or "", "-")
    if result.encryption:
        layer += f" ({result.encryption}-bit RC4)"
    print(f"{report['peer']}: {layer}, server RDP version {server['rdp_version'] or '-'}")
    if result.product is not None:
        asked = (
            f"{server['scope']} / {server['company_name']} / {server['product_id']} "
            f"version 0x{server['dw_version']:08x}, {server['certificate']} certificate"
        )
        sent = "presented its stored license" if result.presented else "asked for a new license"
        print(f"server's License Request: {asked}; the client {sent}")
    outcome = result.outcome
    if outcome in (Outcome.NEW_LICENSE, Outcome.UPGRADED, Outcome.REISSUED):
        words = {
            Outcome.NEW_LICENSE: "new license issued",
            Outcome.UPGRADED: "license upgraded",
            Outcome.REISSUED: "license reissued unchanged",
        }[outcome]
        if result.temporary is None:
            print(f"{words} (a license this client cannot read)")
        else:
            kind = "temporary" if result.temporary else "permanent"
            expires = report["expires"] or "never"
            print(
                f"{words}: {kind}, CAL version {result.version}, expires {expires}, "
                f"serial {result.serial}"
            )
    elif outcome is Outcome.VALID_CLIENT:
        print("valid client: licensing completed, nothing issued")
    elif outcome is Outcome.REFUSED:
        info = "" if result.error_info is None else f", Set Error Info 0x{result.error_info:x}"
        print(f"refused: {result.error_code} / {result.state_transition}{info}")
    else:
        print(f"{outcome.value}: {result.error or '-'}")
    print(
        f"machine {report['client_name']} ({report['platform']}), hwid {report['hwid']}, "
        f"{report['machine_dir']}"
    )


# -- the machine directory ----------------------------------------------------------


def _forget(args: argparse.Namespace) -> int:
    machine = _machine(args, create=False)
    count = machine.forget(everything=args.all)
    if args.json:
        _emit({"machine_dir": str(machine.path), "forgotten": count, "all": args.all})
    elif args.all:
        print(f"removed {machine.path}: {count} licenses and the hardware id")
    else:
        print(f"removed {count} licenses of {machine.client_name}; hardware id kept")
    return 0


def _license_json(entry: Any) -> dict[str, Any]:
    from rdplic.crypto.license import parse_license
    from rdplic.vocabulary import rfc3339

    out: dict[str, Any] = {
        "index": entry.index,
        "name": entry.name,
        "scope": entry.key.scope,
        "company_name": entry.key.company_name,
        "product_id": entry.key.product_id,
        "dw_version": entry.key.version,
        "temporary": None,
        "version": None,
        "serial": None,
        "issued": None,
        "expires": None,
        "hwid": None,
        "client_name": None,
    }
    try:
        parsed = parse_license(entry.license_info)
    except Exception:
        return out
    out.update(
        temporary=parsed.temporary,
        version=f"{parsed.product_major}.{parsed.product_minor}",
        serial=f"{parsed.license_id:x}",
        issued=rfc3339(parsed.issued),
        expires=rfc3339(parsed.expires),
        hwid=parsed.hwid.hex(),
        client_name=parsed.client_machine_name,
    )
    return out


def _licenses(args: argparse.Namespace) -> int:
    machine = _machine(args, create=False)
    entries = [_license_json(entry) for entry in machine.licenses()]
    if args.json:
        _emit(
            {
                "machine_dir": str(machine.path),
                "client_name": machine.client_name,
                "platform": machine.platform.name,
                "hwid": machine.hwid.hex(),
                "licenses": entries,
            }
        )
        return 0
    print(
        f"{machine.client_name} ({machine.platform.name}), hwid {machine.hwid.hex()} "
        f"({machine.hwid_source}), {machine.path}"
    )
    if not entries:
        print("no licenses")
    for e in entries:
        kind = {None: "?", True: "temporary", False: "permanent"}[e["temporary"]]
        print(
            f"{e['name']}  {e['scope']} / {e['company_name']} / {e['product_id']} "
            f"0x{e['dw_version']:08x}  {kind} {e['version'] or ''} expires {e['expires']}"
        )
    return 0


def _need_format(args: argparse.Namespace) -> str:
    if args.format is None:
        raise UsageError("give --format freerdp or --format rdesktop")
    return str(args.format)


def _import(args: argparse.Namespace, file: str) -> int:
    """Take a real client's license: its key is read from the license, and the machine
    takes the hardware id that client derives from the name (the one the license is for)."""
    from rdplic.core.client_store import LicenseKey
    from rdplic.core.platforms import HWID_DERIVATIONS
    from rdplic.crypto.license import parse_license

    kind = _need_format(args)
    try:
        blob = Path(file).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {file}: {error.strerror}") from None
    try:
        parsed = parse_license(blob)
    except Exception as error:
        raise UsageError(f"{file} is not a license: {error}") from None
    new_machine = args.machine_dir is None or not (Path(args.machine_dir) / "machine.json").exists()
    if args.name is None and new_machine:
        args.name = parsed.client_machine_name[:15] or None  # the name the license is for
    if args.platform is None and new_machine:
        args.platform = kind
    machine = _machine(args)
    machine.set_hwid(HWID_DERIVATIONS[kind](machine.client_name), kind)
    key = LicenseKey(
        version=(parsed.product_major << 16) | parsed.product_minor,
        scope="microsoft.com",
        company_name=parsed.company,
        product_id=parsed.product_id,
    )
    machine.store(key, blob)
    if args.json:
        _emit({"machine_dir": str(machine.path), "imported": _license_json_of(machine, key)})
    else:
        print(
            f"imported {file} into {machine.path} ({machine.client_name}, hwid "
            f"{machine.hwid.hex()} as {kind} derives it)"
        )
    return 0


def _license_json_of(machine: Any, key: Any) -> dict[str, Any] | None:
    for entry in machine.licenses():
        if entry.key == key:
            return _license_json(entry)
    return None


def _export(args: argparse.Namespace) -> int:
    """Write a license where the real client looks for it; refused unless the machine's
    hardware id is the one that client derives from the name."""
    from rdplic.core.platforms import HWID_DERIVATIONS
    from rdplic.files import open_private
    from rdplic.simclient.calfiles import cal_directory, cal_file_name

    kind = _need_format(args)
    machine = _machine(args, create=False)
    expected = HWID_DERIVATIONS[kind](machine.client_name)
    if machine.hwid != expected:
        raise UsageError(
            f"{machine.client_name}'s hardware id {machine.hwid.hex()} is not the one {kind} "
            f"derives from its name ({expected.hex()}); a license issued to it would not be "
            f"{kind}'s (use a machine made with --platform {kind})"
        )
    entries = machine.licenses()
    if args.license is not None:
        entries = [e for e in entries if e.index == args.license]
        if not entries:
            raise UsageError(f"no LICENSE{args.license:03d} in {machine.path}")
    if not entries:
        raise UsageError(f"{machine.path} holds no license")
    if len(entries) > 1:
        raise UsageError(
            f"{machine.path} holds {len(entries)} licenses and {kind} keeps one per name: "
            "choose with --license N"
        )
    directory = Path(args.to) if args.to else cal_directory(kind)
    target = directory / cal_file_name(kind, machine.client_name)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open_private(target) as out:
            out.write(entries[0].license_info)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror}") from None
    if args.json:
        _emit({"file": str(target), "license": _license_json(entries[0])})
    else:
        print(f"wrote {entries[0].name} to {target}")
    return 0
