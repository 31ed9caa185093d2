"""Seed inputs of the fuzz targets, by layer: spec examples, Windows frames, captures.

The seeds are peeled layer by layer from whole frames (TPKT, X.224, MCS, GCC, security
header, licensing PDU), so that each decoder starts from inputs of its own layer.  Sources:
the bundled MS-RDPELE 4.1 License Request (`rdplic/data/license-request.hex`, always), and in
a checkout of the repository the examples of ``tests/data`` (MS-RDPBCGR and MS-RDPELE section
4, the Windows Server frames of ``tests/data/windows``, IronRDP's and Redemption's
certificates and licenses) and ``tests/regressions`` (every earlier finding); plus any
directory given with ``--seeds`` (``*.hex`` files are hex text, anything else raw bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rdplic.pdu import framing, gcc, mcs, rdp
from rdplic.pdu.errors import PduError

__all__ = ["LAYERS", "default_seed_dirs", "licensing_machine_seeds", "load_seeds", "read_input"]

PACKAGE = Path(__file__).resolve().parent.parent
CHECKOUT = PACKAGE.parent

LAYERS = (
    "frames",
    "tpdus",
    "mcs",
    "gcc",
    "blocks",
    "secured",
    "rdp",
    "licensing",
    "inner",
    "certificates",
    "x509",
    "licenses",
    "machine",
    "licensing-machine",
)


def read_input(path: Path) -> bytes:
    """The bytes of one seed or finding file: hex text for ``*.hex``, raw otherwise."""
    data = path.read_bytes()
    if path.suffix == ".hex":
        return bytes.fromhex("".join(data.decode("ascii").split()))
    return data


def default_seed_dirs() -> list[Path]:
    """The directories seeds come from when none is given (those that exist)."""
    candidates = [CHECKOUT / "tests" / "data", CHECKOUT / "tests" / "regressions"]
    return [path for path in candidates if path.is_dir()]


def _files(dirs: Iterable[Path]) -> list[Path]:
    found: list[Path] = [PACKAGE / "data" / "license-request.hex"]
    for directory in dirs:
        found += sorted(
            path
            for path in directory.rglob("*")
            if path.is_file()
            and (
                path.suffix in (".hex", ".bin", ".der", ".cal")
                or (path.suffix == "" and path.name.startswith("finding-"))
            )
        )
    return found


def _peel(frame: bytes, layers: dict[str, list[bytes]]) -> None:
    """Add ``frame`` and every inner layer that decodes to ``layers``."""
    try:
        layers["frames"].append(frame)
        payload = framing.decode_tpkt(frame).payload
        layers["tpdus"].append(payload)
        tpdu = framing.decode_x224(payload)
        if not isinstance(tpdu, framing.X224Data):
            return
        layers["mcs"].append(tpdu.payload)
        pdu = mcs.decode_mcs_pdu(tpdu.payload)
        if isinstance(pdu, mcs.McsConnectInitial):
            layers["gcc"].append(pdu.user_data)
            request = gcc.decode_conference_create_request(pdu.user_data)
            layers["blocks"].append(gcc.encode_client_blocks(request.client_blocks))
        elif isinstance(pdu, mcs.McsConnectResponse):
            layers["gcc"].append(pdu.user_data)
            response = gcc.decode_conference_create_response(pdu.user_data)
            layers["blocks"].append(gcc.encode_server_blocks(response.server_blocks))
            for block in response.server_blocks:
                certificate = getattr(block, "server_certificate", None)
                if certificate:
                    layers["certificates"].append(bytes(certificate))
        elif isinstance(pdu, mcs.SendDataRequest | mcs.SendDataIndication):
            layers["secured"].append(pdu.user_data)
            body = rdp.decode_security_header(pdu.user_data)[1]
            layers["rdp"].append(body)
            if body[:1] in (b"\x01", b"\x02", b"\x03", b"\x12", b"\x13", b"\x14", b"\xff"):
                layers["licensing"].append(body)
    except PduError:
        return


def licensing_machine_seeds(pdus: list[bytes]) -> list[bytes]:
    """Seeds of the ``licensing:`` targets (`rdplic.fuzz.licensing`): the recorded
    conversations at each replay position, and the first licensing PDUs of the corpus fed
    at the first two positions of each conversation (the server right after its License
    Request, the client right after receiving it)."""
    from rdplic.fuzz import licensing

    count = len(licensing.conversations())
    return licensing.seeds() + [
        bytes([number + count * position, 0x00, 0x00]) + pdu
        for number in range(count)
        for position in (0, 1)
        for pdu in pdus[:16]
    ]


def load_seeds(
    dirs: Iterable[Path] | None = None, *, machines: bool = True
) -> dict[str, list[bytes]]:
    """Every seed by layer (duplicates removed, order kept); ``machines`` False leaves the
    two machine layers empty (they record conversations between the real machines, which
    a decoder's test does not need)."""
    layers: dict[str, list[bytes]] = {name: [] for name in LAYERS}
    for path in _files(default_seed_dirs() if dirs is None else dirs):
        try:
            data = read_input(path)
        except (ValueError, UnicodeDecodeError, OSError):
            continue
        name = path.name
        if data[:1] == b"\x03":
            _peel(data, layers)
        elif name.endswith("-decrypted.hex") or "hardware-id" in name:
            layers["inner"].append(data)
        elif "cert" in name or name.endswith(".bin"):
            layers["certificates"].append(data)
            layers["x509"].append(data)
        elif "license" in name and data[:1] == b"\x30":
            layers["licenses"].append(data)
        else:
            layers["rdp"].append(data)
            layers["licensing"].append(data)
        if path.parent.name == "regressions" or "regressions" in path.parts:
            for inputs in layers.values():
                inputs.append(data)
    if machines:
        # Added to, not replaced: the regressions above are seeds of the machine targets too.
        layers["machine"] += [bytes([k]) + b"" for k in range(12)] + [
            bytes([k]) + frame for k in range(0, 12, 3) for frame in layers["frames"][:8]
        ]
        layers["licensing-machine"] += licensing_machine_seeds(layers["licensing"])
    for name, inputs in layers.items():
        layers[name] = list(dict.fromkeys(inputs))
    return layers
