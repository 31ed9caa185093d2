"""The web console's HTTP side: the page, its static files, the JSON API and the live feed.

Safety (issue 17, "Safe by default"):

* It listens on loopback only unless ``--web-allow-remote`` is given, and then only with a
  token (`WebOptions.token`).  On loopback without a token, requests must name the address
  it listens on in ``Host`` (a page of another site that rebinds its DNS name to 127.0.0.1
  cannot read the console).
* Reading needs the token when there is one: ``Authorization: Bearer TOKEN`` (or
  ``X-Rdplic-Token``), or the cookie set by opening ``/?token=TOKEN`` once.
* An action (every POST) needs either the token in a header (scripts: curl), or a
  same-origin request from the page: ``Origin`` equal to the console's own origin and the
  header ``X-CSRF-Token`` carrying the per-process token written into the page, which only
  a same-origin script can read; the custom header also makes any cross-origin ``fetch``
  preflighted, which the console never answers with CORS headers.
* Nothing shown carries a secret: license blobs, keys, premaster secrets and Client Info
  passwords never reach `rdplic.licensing.views` or the connection summaries.

Every action goes through `LicenseAdmin` (the CLI's code, its checks and its one-line
`UsageError` messages, shown on the page as they are); a refused action answers 400 with
``{"error": "..."}`` and leaves the store unchanged.  The store ``rdplic serve`` uses is
group-committed: each request commits what it wrote before answering.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import unquote

from twisted.internet import task
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.web import resource, server

from rdplic.errors import UsageError
from rdplic.licensing.clock import SystemClock
from rdplic.licensing.explain import explain
from rdplic.licensing.model import (
    CalType,
    HistoryKind,
    LicensingProgram,
    ProductVersion,
    parse_hwid,
)
from rdplic.licensing.records import grace_ends, load_host_config
from rdplic.licensing.store import HistoryQuery, LicenseQuery, StoreError, read_clock_offset
from rdplic.licensing.views import event_view, explanation_view, key_pack_view, license_view
from rdplic.vocabulary import COMMAND_KEYS, Outcome, rfc3339

__all__ = ["WebConsole", "WebOptions", "parse_web_address"]

STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The only files served from ``static/`` besides the page (no directory listing)."""

API_KEYS: dict[str, str] = COMMAND_KEYS["serve --web"]
"""The API's keys that are neither in rdplic.vocabulary.KEYS nor in
rdplic.licensing.views.OWN_KEYS (the license command's revoke and transfer keys are)."""

Request = Any
"""twisted.web's Request (its methods are untyped: Any, as rdplic.net does for Twisted)."""

MAX_BODY = 64 * 1024
RECENT_CONNECTIONS = 50
MAX_FEEDS = 32
TICK = 0.5
"""Seconds between the live feed's announcements of changes."""
BURST = 20
"""Connection events sent at once per tick; more are announced as one."""
KEEP_ALIVE = 15.0
CHANGED_EVERY = 1.0
"""Seconds between two announcements that the store changed: each makes every open page
reload its tables, which costs the reactor tens of ms with thousands of licenses."""
TOKEN_COOKIE = "rdplic_token"

SECURITY_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cache-Control": b"no-store",
    b"Content-Security-Policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True)
class WebOptions:
    """``--web HOST:PORT``, ``--web-allow-remote`` and the token."""

    host: str = "127.0.0.1"
    port: int = 8089
    allow_remote: bool = False
    token: str | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_web_address(text: str, *, allow_remote: bool, token: str | None) -> WebOptions:
    """``HOST:PORT`` (``[::1]:8089`` for IPv6) checked against the safety rules; `UsageError`
    names what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--web must be HOST:PORT, e.g. 127.0.0.1:8089, got {text!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--web port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--web port must be 0 to 65535, got {port}")
    if not is_loopback(host):
        if not allow_remote:
            raise UsageError(
                f"--web {host} is not a loopback address; add --web-allow-remote with a token "
                "(--web-token-file or RDPLIC_WEB_TOKEN) to serve other machines"
            )
        if not token:
            raise UsageError(
                "--web-allow-remote needs a token: --web-token-file FILE or RDPLIC_WEB_TOKEN"
            )
    if token is not None and len(token) < 16:
        raise UsageError("the web token must be at least 16 characters")
    return WebOptions(host=host, port=port, allow_remote=allow_remote, token=token)


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class WebConsole:
    """The console over a running server: ``app`` is the `rdplic.app.ServerApp`, ``factory``
    its Twisted factory (connections in flight and the watchers hook)."""

    _log = Logger(namespace="rdplic.web")

    def __init__(
        self,
        app: Any,
        factory: Any,
        reactor: Any,
        options: WebOptions,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.store = app.store
        self.admin = app.admin
        self.factory = factory
        self.reactor = reactor
        self.options = options
        self.csrf = secrets.token_urlsafe(32)
        self._wall = wall
        self.clock = SystemClock(offset=lambda: read_clock_offset(self.store), wall=wall)
        self._ids: dict[int, tuple[int, datetime]] = {}
        self._next_id = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CONNECTIONS)
        self.feeds: list[Request] = []
        self._token_seen: object = None
        self._changed = False
        self._burst = 0
        self._ticks = 0
        self._connections_pending = False
        self._poll: task.LoopingCall | None = None
        self.port: Any = None
        if factory is not None:
            factory.watchers.append(self._connection_event)

    # -- running -----------------------------------------------------------------------

    def site(self) -> Any:
        make_site: Any = server.Site  # untyped in Twisted
        site = make_site(_Root(self))
        site.displayTracebacks = False
        site.noisy = False
        return site

    def listen(self) -> Any:
        """Listen on the configured address; returns the port (its ``getHost()``).

        :raises UsageError: the address cannot be listened on (in use, not local...)
        """
        try:
            self.port = self.reactor.listenTCP(
                self.options.port, self.site(), interface=self.options.host
            )
        except CannotListenError as error:
            where = f"{self.options.host}:{self.options.port}"
            raise UsageError(f"--web {where}: cannot listen ({error.socketError})") from None
        self._poll = task.LoopingCall(self._tick)
        self._poll.clock = self.reactor
        self._poll.start(TICK, now=False)
        return self.port

    def stop(self) -> Any:
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        for request in list(self.feeds):
            request.finish()
        self.feeds.clear()
        return self.port.stopListening() if self.port is not None else None

    def now(self) -> datetime:
        return self.clock.now()

    def commit(self) -> None:
        """Make what a request wrote durable before answering (group-committed store)."""
        if self.store.uncommitted:
            self.store.commit_group()

    # -- the live feed -----------------------------------------------------------------

    def _connection_event(self, what: str, protocol: Any) -> None:
        """A connection opened or closed: sent to the pages at once, up to `BURST` per tick;
        beyond that (a load test) one ``connection`` event per tick says "many", and the
        store's changes are announced once per tick, so that the pages' reloads never
        crowd out the RDP connections on the reactor."""
        view = self.connection_view(protocol, closed=what == "closed")
        if what == "closed":
            self._ids.pop(id(protocol), None)
            self.recent.appendleft(view)
            self._changed = True
        if not self.feeds:
            return
        self._burst += 1
        if self._burst <= BURST:
            self.broadcast("connection", {"event": what, "connection": view})
        else:
            self._connections_pending = True

    def connection_view(self, protocol: Any, *, closed: bool) -> dict[str, Any]:
        key = id(protocol)
        if key not in self._ids:
            self._next_id += 1
            self._ids[key] = (self._next_id, self.now())
        number, opened = self._ids[key]
        record = protocol.summary()
        if closed and record.get("outcome") is None:
            record["outcome"] = Outcome.ENDED.value
        return {"connection_id": number, "time": rfc3339(opened), **record}

    def broadcast(self, event: str, data: dict[str, Any]) -> None:
        frame = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        for request in list(self.feeds):
            try:
                request.write(frame)
            except Exception:  # a feed that went away; notifyFinish removes it
                self.feeds.remove(request)

    def mark_changed(self) -> None:
        """The store changed (an action): the pages hear of it at the next tick."""
        self._changed = True

    def _tick(self) -> None:
        """Every `TICK` seconds: announce what changed since the last tick (connections
        beyond the burst, decisions, another process's changes to the store, seen by the
        store's change token) and keep idle feeds open."""
        self._burst = 0
        self._ticks += 1
        if self._connections_pending:
            self._connections_pending = False
            self.broadcast("connection", {"event": "many", "connection": None})
        try:
            token = self.store.settings_token()
        except StoreError:
            token = self._token_seen
        if token != self._token_seen:
            self._changed = self._changed or self._token_seen is not None
            self._token_seen = token
        if self._changed and self._ticks % int(CHANGED_EVERY / TICK) == 0:
            self._changed = False
            self.broadcast("changed", {"time": rfc3339(self.now())})
        if self._ticks % int(KEEP_ALIVE / TICK) == 0:
            for request in list(self.feeds):
                request.write(b": keep-alive\n\n")

    # -- the API -----------------------------------------------------------------------

    def get(self, path: list[str], args: dict[str, str]) -> Any:
        now = self.now()
        if path == ["key-packs"]:
            packs = self.admin.list_key_packs(now)
            return [key_pack_view(p) for p in packs]
        if path == ["licenses"]:
            return [license_view(lic, now) for lic in self.admin.list_licenses(now)]
        if path == ["history"]:
            self.admin.reclaim(now)
            return [event_view(e) for e in self.admin.history(_history_query(args))]
        if path == ["explain"]:
            return explanation_view(explain(self.store, args.get("client", ""), now))
        if path == ["host"]:
            return self.host_view(now)
        if path == ["connections"]:
            active = [self.connection_view(p, closed=False) for p in list(self.factory.active)]
            return {"active": active, "recent": list(self.recent)}
        if path == ["chart"]:
            return self.chart(now)
        raise _Refused(404, f"no such API: /api/{'/'.join(path)}")

    def host_view(self, now: datetime) -> dict[str, Any]:
        with self.store.snapshot() as tx:
            cfg = load_host_config(tx)
            ends = grace_ends(tx, cfg)
        offset = read_clock_offset(self.store)
        return {
            "now": rfc3339(now),
            "offset_seconds": int(offset.total_seconds()),
            "grace_ends": rfc3339(ends) if ends.year < 9999 else None,
            "settings": cfg.to_settings(),
            "version": str(cfg.cal_version),
            "product_version": cfg.cal_version.title,
        }

    def chart(self, now: datetime) -> dict[str, Any]:
        """Licenses issued per day, temporary and permanent (the page adds them up)."""
        with self.store.snapshot() as tx:
            licenses = {lic.license_id: lic for lic in tx.find_licenses(LicenseQuery())}
            issued = tx.list_history(HistoryQuery(kinds=[HistoryKind.ISSUED]))
        days: dict[str, dict[str, Any]] = {}
        for event in issued:
            lic = licenses.get(event.license_id or 0)
            day = event.at.replace(hour=0, minute=0, second=0, microsecond=0)
            slot = days.setdefault(
                day.isoformat(), {"time": rfc3339(day), "temporary_count": 0, "permanent_count": 0}
            )
            key = "temporary_count" if lic is not None and lic.temporary else "permanent_count"
            slot[key] += 1
        points = [days[k] for k in sorted(days)]
        return {"now": rfc3339(now), "points": points}

    def post(self, path: list[str], body: dict[str, Any]) -> Any:
        now = self.now()
        if path == ["key-packs"]:
            pack = self.admin.add_key_pack(
                now,
                cal_type=_parse(CalType.parse, _text(body, "cal_type"), "cal_type"),
                count=_count(body.get("count")),
                version=None
                if not body.get("version")
                else _parse(ProductVersion.parse, _text(body, "version"), "version"),
                program=_parse(
                    LicensingProgram.parse, str(body.get("program") or "retail"), "program"
                ),
            )
            return key_pack_view(pack)
        if len(path) == 3 and path[0] == "licenses" and path[2] == "revoke":
            result = self.admin.revoke(_id(path[1]), now)
            return {
                "license": license_view(result.license, now),
                "revokable_cals": result.revokable_cals,
                "next_revoke_allowed": rfc3339(result.next_revoke_allowed_on),
            }
        if len(path) == 3 and path[0] == "licenses" and path[2] == "transfer":
            target = str(body.get("to") or "").strip()
            if len(target) > 255 or not target.isprintable():
                raise UsageError("to must be a printable machine name")
            done = self.admin.transfer(_id(path[1]), now, to=target)
            return {
                "license": license_view(done.license, now),
                "reissued_key_pack": key_pack_view(done.reissued_key_pack),
            }
        if path == ["clock"]:
            if body.get("reset"):
                self.admin.set_clock_offset(timedelta(0), self._wall())
            else:
                self.admin.advance_clock(_text(body, "advance"), self._wall())
            return self.host_view(self.now())
        if path == ["config"]:
            self.admin.update_config(_text(body, "key"), _text(body, "value"), now)
            return self.host_view(now)
        raise _Refused(404, f"no such action: /api/{'/'.join(path)}")

    # -- the checks --------------------------------------------------------------------

    def _header(self, request: Request, name: str) -> str:
        value = request.getHeader(name)
        return value or ""

    def token_given(self, request: Request) -> bool:
        """The request carries the token in a header (a script, not a browser page)."""
        token = self.options.token
        if not token:
            return False
        auth = self._header(request, "authorization")
        given = auth[7:] if auth.lower().startswith("bearer ") else ""
        given = given or self._header(request, "x-rdplic-token")
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def _cookie_ok(self, request: Request) -> bool:
        token = self.options.token
        cookie = request.getCookie(TOKEN_COOKIE.encode())
        if not token or not cookie:
            return False
        return hmac.compare_digest(bytes(cookie), token.encode())

    def check_read(self, request: Request) -> None:
        """Host header on loopback; the token (header or cookie) when there is one."""
        if self.options.token:
            if not (self.token_given(request) or self._cookie_ok(request)):
                raise _Refused(401, "the web token is required (see rdplic serve --web-token-file)")
            return
        host = self._header(request, "host")
        name, _, _port = host.rpartition(":")
        if not host or not is_loopback(name or host):
            raise _Refused(403, "requests must be addressed to the loopback address")

    def check_action(self, request: Request) -> None:
        """The token in a header, or a same-origin request with the page's CSRF token."""
        if self.token_given(request):
            return
        origin = self._header(request, "origin")
        host = self._header(request, "host")
        if not origin or origin != f"http://{host}":
            raise _Refused(403, "cross-origin action refused")
        given = self._header(request, "x-csrf-token")
        if not given or not hmac.compare_digest(given.encode(), self.csrf.encode()):
            raise _Refused(403, "missing or wrong CSRF token")


def _history_query(args: dict[str, str]) -> HistoryQuery:
    client = args.get("client", "").strip()
    if not client:
        return HistoryQuery()
    compact = client.removeprefix("0x").replace(":", "").replace(" ", "")
    if len(compact) == 40:
        try:
            return HistoryQuery(hwid=parse_hwid(client))
        except ValueError:
            pass
    return HistoryQuery(machine_name=client)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{key} is required")
    return value.strip()


def _count(value: object) -> int:
    if isinstance(value, bool) or value is None:
        raise UsageError("count is required")
    try:
        return int(str(value))
    except ValueError:
        raise UsageError(f"count must be a whole number, got {value!r}") from None


def _id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"LICENSE_ID must be a number, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"LICENSE_ID must be positive, got {text!r}")
    return value


def _parse(parse: Callable[[str], Any], text: str, what: str) -> Any:
    try:
        return parse(text)
    except ValueError as error:
        raise UsageError(f"{what}: {error}") from None


# =============================================================================================
# twisted.web resources


def _secure(request: Request) -> None:
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)


def _json(request: Request, code: int, value: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(value).encode()


class _Root(resource.Resource):
    """``/``: the page; ``/static/NAME``; ``/api/...``."""

    isLeaf = True

    def __init__(self, console: WebConsole) -> None:
        init: Any = super().__init__  # untyped in Twisted
        init()
        self.console = console

    def render(self, request: Request) -> bytes | int:
        _secure(request)
        console = self.console
        path = [unquote(p.decode("utf-8", "replace")) for p in request.postpath if p]
        method = request.method.decode("ascii", "replace")
        try:
            token_arg = request.args.get(b"token", [b""])[0].decode("utf-8", "replace")
            if path == [] and token_arg and console.options.token:
                return self._login(request, token_arg)
            console.check_read(request)
            if not path and method in ("GET", "HEAD"):
                return self._page(request)
            if len(path) == 2 and path[0] == "static" and method in ("GET", "HEAD"):
                return self._static(request, path[1])
            if path[:1] != ["api"]:
                raise _Refused(404, "not found")
            api = path[1:]
            if api == ["events"] and method == "GET":
                return self._feed(request)
            if method == "GET":
                args = {
                    k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()
                }
                result = console.get(api, args)
                console.commit()
                return _json(request, 200, result)
            if method == "POST":
                console.check_action(request)
                body = self._body(request)
                try:
                    result = console.post(api, body)
                finally:
                    console.commit()
                console.mark_changed()
                return _json(request, 200, result)
            raise _Refused(405, f"method {method} not allowed")
        except _Refused as refused:
            return _json(request, refused.code, {"error": str(refused)})
        except (UsageError, StoreError) as error:
            return _json(request, 400, {"error": str(error)})
        except Exception:
            console._log.failure("web request {path} failed", path="/".join(path))
            return _json(request, 500, {"error": "internal error (see the server's log)"})

    def _login(self, request: Request, given: str) -> bytes:
        token = self.console.options.token or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise _Refused(401, "wrong web token")
        request.addCookie(
            TOKEN_COOKIE.encode(), token.encode(), path=b"/", httpOnly=True, sameSite="strict"
        )
        request.setResponseCode(303)
        request.setHeader(b"Location", b"/")
        return b""

    def _page(self, request: Request) -> bytes:
        page = resources.files("rdplic.web").joinpath("static/index.html").read_text("utf-8")
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return page.replace("{{csrf}}", self.console.csrf).encode()

    def _static(self, request: Request, name: str) -> bytes:
        kind = STATIC_FILES.get(name)
        if kind is None:
            raise _Refused(404, "not found")
        request.setHeader(b"Content-Type", kind.encode())
        return resources.files("rdplic.web").joinpath(f"static/{name}").read_bytes()

    def _body(self, request: Request) -> dict[str, Any]:
        kind = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(415, "actions take a JSON body (Content-Type: application/json)")
        content = request.content.read(MAX_BODY + 1) if request.content else b""
        if len(content) > MAX_BODY:
            raise _Refused(413, "request body too large")
        try:
            body = json.loads(content or b"{}")
        except ValueError:
            raise UsageError("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise UsageError("the request body must be a JSON object")
        return body

    def _feed(self, request: Request) -> int:
        console = self.console
        if len(console.feeds) >= MAX_FEEDS:
            raise _Refused(503, "too many live feeds open")
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.write(b"retry: 2000\n\n")
        console.feeds.append(request)

        def gone(_: object) -> None:
            if request in console.feeds:
                console.feeds.remove(request)

        request.notifyFinish().addBoth(gone)
        return server.NOT_DONE_YET
