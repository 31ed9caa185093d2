"""``rdplic serve --workers N``: N processes sharing one listening socket and one store.

The supervisor (this process) opens the listening socket before forking, so every worker
accepts from the same queue without SO_REUSEPORT's per-socket hashing (a slow worker does
not get a fixed share of the connections), prepares the state directory and the store once
(identity, migrations, stored configuration), and forks the workers; each runs its own
Twisted reactor, its own store connections and its own decider (`rdplic.app`).  Workers
share the store: the state directory's SQLite file in WAL mode on one host (its writers
wait on a POSIX lock: `rdplic.store.sqlite.SqliteStore`), or a PostgreSQL database
(``--db``) on one host or several.

SIGTERM or SIGINT to the supervisor is passed to every worker, which stops gracefully
(`rdplic.app.serve_forever`); the supervisor exits when all have.  A worker that dies any
other way is logged and started again; one that keeps dying (five times within ten
seconds) stops the server with exit status 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["serve_workers"]

_RESTARTS = 5
_RESTART_WINDOW_S = 10.0


def serve_workers(
    make_server: Callable[[], Any],
    options: Any,
    workers: int,
    serve: Callable[[Callable[[], Any], Any], int],
) -> int:
    """Run ``workers`` worker processes, each ``serve(make_server, options)`` (what
    `rdplic.app.serve_forever` does), until SIGTERM/SIGINT.

    ``options`` is a `rdplic.app.ServeOptions`; ``make_server`` builds each worker's
    `rdplic.app.ServerApp` (and once here first, to prepare the state and the store).
    """
    from rdplic.net.logs import start_logging

    start_logging(options.log_format, options.log_level, options.log_file)
    log = Logger(namespace="rdplic.serve")
    prepared = make_server()  # identity, migrations and configuration, before any fork
    prepared.close()
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind((options.host, options.port))
    listening.listen(options.backlog)
    listening.setblocking(False)
    host, port = listening.getsockname()[:2]
    log.info(
        "rdplic serve listening on {host}:{port} ({workers} workers, state {state_dir})",
        host=host,
        port=port,
        workers=workers,
        state_dir=str(prepared.state_dir),
    )
    worker_options = dataclasses.replace(options, listen_fd=listening.fileno())
    children: dict[int, int] = {}
    stopping = False
    restarts: list[float] = []

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                status = serve(make_server, dataclasses.replace(worker_options, worker=index))
            except BaseException:
                log.failure("worker {index} failed", index=index)
            finally:
                os._exit(status)
        children[pid] = index
        log.info("worker {index} started (pid {pid})", index=index, pid=pid)

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info(
                "received {signal}: stopping {count} workers",
                signal=signal.Signals(signum).name,
                count=len(children),
            )
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for index in range(workers):
        spawn(index)
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        how = _describe(wait_status)
        if stopping:
            log.info("worker {index} (pid {pid}) stopped: {how}", index=index, pid=pid, how=how)
            continue
        now = time.monotonic()
        restarts[:] = [t for t in restarts if now - t < _RESTART_WINDOW_S] + [now]
        if len(restarts) > _RESTARTS:
            log.error(
                "worker {index} (pid {pid}) died: {how}; {count} deaths within {window:g} s,"
                " stopping the server",
                index=index,
                pid=pid,
                how=how,
                count=len(restarts),
                window=_RESTART_WINDOW_S,
            )
            status = 1
            on_signal(signal.SIGTERM, None)
            continue
        log.warn(
            "worker {index} (pid {pid}) died: {how}; restarting it", index=index, pid=pid, how=how
        )
        spawn(index)
    listening.close()
    log.info("rdplic serve stopped")
    return status


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit status {os.WEXITSTATUS(wait_status)}"
