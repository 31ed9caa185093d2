"""Run one real RDP client (rdesktop or xfreerdp) headless against a loopback server.

The interop tests drive the clients Debian ships: rdesktop 1.9 and FreeRDP 2.11's
``xfreerdp``.  Each run gets its own HOME (the clients keep their licenses there), a shared
Xvfb display, a hard timeout and a log.  Only processes started here are ever stopped, by
their process id.

Command lines (HOME isolated, credentials never prompted for):

* xfreerdp: ``/v:HOST:PORT /u:U /p:P /sec:rdp|tls /cert:ignore /client-hostname:NAME``
  (``/sec:rdp`` sends no RDP_NEG_REQ; ``/sec:tls`` requests PROTOCOL_SSL only).
* rdesktop: ``-u U -p P -n NAME HOST:PORT`` with ``RDESKTOP_DEBUG=Protocol,Core``; it always
  requests PROTOCOL_SSL|PROTOCOL_HYBRID, so the *server* chooses TLS or Standard RDP
  Security.  rdesktop asks on stdin whether to trust a self-signed certificate (and
  crashes at end of file there), so its stdin holds a few "yes" lines.

Where the clients store a license (both key it by client name, not by server):

* rdesktop 1.9: ``$HOME/.local/share/rdesktop/licenses/<sha1(name16 + salt)>.cal``
* FreeRDP 2.11: ``$XDG_CONFIG_HOME/freerdp/licenses/<sha1(name)>.cal``
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = [
    "CLIENTS",
    "ClientRun",
    "Xvfb",
    "license_file",
    "missing_binaries",
    "run_client",
]

CLIENTS = ("xfreerdp", "rdesktop")

# rdesktop 1.9.0 secure.c g_static_rdesktop_salt_16: salts the hash naming the license file.
_RDESKTOP_SALT = bytes.fromhex("b8822931c539d94454155e147138d54d")


def missing_binaries(*names: str) -> list[str]:
    """The executables among ``names`` that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def license_file(client: str, home: Path, client_name: str) -> Path:
    """Where ``client`` keeps the license it was issued, for this HOME and client name."""
    if client == "rdesktop":
        name16 = client_name.encode()[:15].ljust(16, b"\0")
        digest = hashlib.sha1(name16 + _RDESKTOP_SALT).hexdigest()
        return home / ".local/share/rdesktop/licenses" / f"{digest}.cal"
    if client == "xfreerdp":
        digest = hashlib.sha1(client_name.encode()).hexdigest()
        return home / ".config/freerdp/licenses" / f"{digest}.cal"
    raise ValueError(f"unknown client {client!r}")


class Xvfb:
    """A private X server for the clients (``Xvfb -displayfd``: it picks a free display)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self, timeout: float = 10.0) -> str:
        read_fd, write_fd = os.pipe()
        self._process = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1024x768x24",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while b"\n" not in data:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._process.poll() is not None:
                    raise RuntimeError("Xvfb did not start")
                ready, _, _ = select.select([read_fd], [], [], remaining)
                if ready:
                    chunk = os.read(read_fd, 64)
                    if not chunk:
                        raise RuntimeError("Xvfb closed its display pipe")
                    data += chunk
        finally:
            os.close(read_fd)
        self.display = ":" + data.decode().strip()
        return self.display

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclasses.dataclass
class ClientRun:
    """What one client run did."""

    client: str
    command: list[str]
    returncode: int | None
    """The client's exit status; None when it was stopped by ``stop_on`` or the timeout."""
    stopped_on_match: bool
    timed_out: bool
    duration: float
    log: str

    def __str__(self) -> str:
        tail = "\n".join(self.log.splitlines()[-40:])
        return (
            f"{self.client} exit={self.returncode} matched={self.stopped_on_match} "
            f"timed_out={self.timed_out} after {self.duration:.1f}s\n"
            f"cmd: {' '.join(self.command)}\n{tail}"
        )


def _command(
    client: str,
    host: str,
    port: int,
    security: str,
    *,
    user: str,
    password: str,
    client_name: str,
    extra: list[str],
) -> list[str]:
    if client == "xfreerdp":
        if security not in ("rdp", "tls", "nego"):
            raise ValueError("xfreerdp security must be rdp, tls or nego")
        sec = {"rdp": "/sec:rdp", "tls": "/sec:tls", "nego": "-sec-nla"}[security]
        return [
            "xfreerdp",
            f"/v:{host}:{port}",
            f"/u:{user}",
            f"/p:{password}",
            sec,
            "/cert:ignore",
            f"/client-hostname:{client_name}",
            "/log-level:DEBUG",
            *extra,
        ]
    if client == "rdesktop":
        # rdesktop offers SSL|HYBRID whatever we say; the server decides.
        return [
            "rdesktop",
            "-v",
            "-u",
            user,
            "-p",
            password,
            "-n",
            client_name,
            *extra,
            f"{host}:{port}",
        ]
    raise ValueError(f"unknown client {client!r}")


def run_client(
    client: str,
    port: int,
    security: str,
    home: Path,
    *,
    display: str,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    stop_on: str | None = None,
    user: str = "labuser",
    password: str = "labpass",
    client_name: str = "LABCLIENT",
    extra: list[str] | None = None,
    log_path: Path | None = None,
) -> ClientRun:
    """Run ``client`` once against ``host:port`` and wait for it to end.

    ``stop_on`` is a regular expression: when the client's output matches it, the client is
    terminated (by pid) and the run counts as a match.  Otherwise the client runs until it
    exits or ``timeout`` seconds pass (then it is killed: ``timed_out``).
    """
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError("interop clients only ever connect to loopback addresses")
    home.mkdir(parents=True, exist_ok=True)
    command = _command(
        client,
        host,
        port,
        security,
        user=user,
        password=password,
        client_name=client_name,
        extra=list(extra or []),
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DISPLAY": display,
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
    }
    if client == "rdesktop":
        env["RDESKTOP_DEBUG"] = "Protocol,Core"
    pattern = re.compile(stop_on) if stop_on else None
    with tempfile.TemporaryDirectory(prefix="rdplic-interop-") as work:
        env["XDG_RUNTIME_DIR"] = work
        stdin_path = Path(work) / "stdin"
        stdin_path.write_text("yes\n" * 20)
        started = time.monotonic()
        with stdin_path.open("rb") as stdin:
            process = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=work,
            )
        assert process.stdout is not None
        output = bytearray()
        matched = False
        timed_out = False
        fd = process.stdout.fileno()
        os.set_blocking(fd, False)
        deadline = started + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                output += chunk
                if pattern and pattern.search(output.decode(errors="replace")):
                    matched = True
                    break
            elif process.poll() is not None:
                break
        if matched or timed_out:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        returncode = process.wait(timeout=10)
        try:
            while chunk := os.read(fd, 65536):
                output += chunk
        except (BlockingIOError, OSError):
            pass
        process.stdout.close()
        duration = time.monotonic() - started
    text = output.decode(errors="replace")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"### cmd: {' '.join(command)}\n{text}\n### exit {returncode}\n")
    return ClientRun(
        client=client,
        command=command,
        returncode=None if (matched or timed_out) else returncode,
        stopped_on_match=matched,
        timed_out=timed_out,
        duration=duration,
        log=text,
    )
