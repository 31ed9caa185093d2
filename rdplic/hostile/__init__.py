"""Hostile-server mode (``rdplic serve --hostile PROFILE``): a server for fuzzing clients.

The connection machine runs the real connection sequence; the adapter hands every write
to a `HostileConnection` just before TLS (after the machine has built and encrypted the
licensing blobs) and sends what it returns: the server licensing PDUs in clear mutated as
the profile says (`rdplic.hostile.profiles`), the MCS Connect Response for the profiles
that lie before licensing (`rdplic.hostile.connect`), everything else untouched.  The
licensing PDUs the machine encrypts under Standard RDP Security, which the adapter cannot
see into, the machine mutates itself before encrypting them, with the same connection's
`HostileConnection.mutate_message` given to it as an input
(`rdplic.core.connection_server.LicensingMutator`): nothing here is in rdplic/core, and the
machine has no mutation or randomness of its own.

Repeatable: connection N of a run with profile P and seed S draws from a generator seeded
with (P, S, N), so the same profile and seed send the same bytes to the same client.
"""

from __future__ import annotations

import enum
import random

from rdplic.hostile.connect import ConnectResponse
from rdplic.hostile.connect import frame as connect_frame
from rdplic.hostile.profiles import PROFILES, Profile, Session
from rdplic.hostile.wire import LicensingFrame, split_frames
from rdplic.vocabulary import Outcome

__all__ = ["PROFILES", "HostileConnection", "HostileServer", "Reaction", "profile_listing"]


_CLEAR_HEAD = bytes.fromhex("02f08068000103eb70")
"""X.224 Data and a Send Data Indication (server channel 1002 on the I/O channel 1003):
the framing `mutate_message` puts around a bare licensing PDU for the profiles."""
_CLEAR_SECURITY = bytes.fromhex("80000000")
"""SEC_LICENSE_PKT, no SEC_ENCRYPT: the PDU as a profile sees it under TLS."""


class Reaction(enum.StrEnum):
    """What the client did after the hostile messages, as the connection's log line says it."""

    CLEAN_DISCONNECT = "clean_disconnect"
    """It closed the connection (FIN), without a licensing error."""
    LICENSING_ERROR = "licensing_error"
    """It answered with a licensing error (or anything the machine took as one)."""
    RESET = "reset"
    """The connection was reset (a crash or an abort looks like this)."""
    TIMEOUT = "timeout"
    """It said nothing more until the server's idle or total timeout."""


def reaction(outcome: Outcome | None, reset: bool) -> Reaction:
    """The client's reaction from the connection's outcome and how TCP ended."""
    if outcome == Outcome.TIMEOUT:
        return Reaction.TIMEOUT
    if reset:
        return Reaction.RESET
    if outcome in (Outcome.REFUSED, Outcome.PROTOCOL_ERROR):
        return Reaction.LICENSING_ERROR
    return Reaction.CLEAN_DISCONNECT


class HostileConnection:
    """One connection's mutator: `mutate` each write, then `record` for the log line."""

    def __init__(self, profile: Profile, seed: int, index: int) -> None:
        self.profile = profile
        self.seed = seed
        self.index = index
        # A string seed is hashed by SHA-512 in random.seed: stable across runs and hosts.
        self.session = Session(random.Random(f"{profile.name}:{seed}:{index}"))

    def mutate(self, data: bytes) -> bytes:
        """``data`` (one write of the machine, before TLS) with its licensing PDUs mutated."""
        out: list[bytes] = []
        for frame in split_frames(data):
            if self.profile.connect is not None:
                response = ConnectResponse.parse(frame)
                if response is not None:  # the one lie before licensing (rdplic.hostile.connect)
                    lied = self.profile.connect(response, self.session.rng, self.session.mutations)
                    out.append(frame if lied is None else connect_frame(lied))
                    continue
            licensing = LicensingFrame.parse(frame)
            replaced = None if licensing is None else self.profile.mutate(licensing, self.session)
            out.extend([frame] if replaced is None else replaced)
        return b"".join(out)

    def mutate_message(self, message: bytes) -> list[bytes]:
        """One licensing PDU (preamble and message) before the Standard RDP Security layer
        encrypts it, mutated as the profile says: the messages to send instead.  The
        connection machine calls it (`rdplic.core.connection_server.LicensingMutator`) for
        the licensing PDUs it encrypts, which `mutate` cannot see; same profile, same
        generator, so a seed gives the same lies under TLS and under SEC_ENCRYPT."""
        frame = LicensingFrame(_CLEAR_HEAD, _CLEAR_SECURITY, message)
        replaced = self.profile.mutate(frame, self.session)
        if replaced is None:
            return [message]
        out: list[bytes] = []
        for each in replaced:
            parsed = LicensingFrame.parse(each)
            assert parsed is not None  # INVARIANT: profiles return rebuilt licensing frames
            out.append(parsed.message)
        return out

    def record(self, outcome: Outcome | None, reset: bool) -> dict[str, object]:
        """The hostile keys of the connection's log line."""
        return {
            "hostile_profile": self.profile.name,
            "hostile_seed": self.seed,
            "hostile_connection": self.index,
            "mutations": list(self.session.mutations),
            "reaction": str(reaction(outcome, reset)),
        }


class HostileServer:
    """Makes each accepted connection's `HostileConnection` (numbered from 0)."""

    def __init__(self, profile: str, seed: int) -> None:
        self.profile = PROFILES[profile]
        self.seed = seed
        self._next = 0

    def connection(self) -> HostileConnection:
        index, self._next = self._next, self._next + 1
        return HostileConnection(self.profile, self.seed, index)


def profile_listing() -> list[str]:
    """One line per profile: name, family, what it sends."""
    width = max(len(name) for name in PROFILES)
    return [f"{p.name:<{width}}  {p.family:<9}  {p.description}" for p in PROFILES.values()]
