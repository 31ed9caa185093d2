"""The crypto calls of `rdplic serve`'s core: recorded for replay, or timed where they run.

Used by ``benchmarks/serve.py`` in two ways:

* in the benchmark's own process, `CryptoRecorder` records every call the server core
  makes into the crypto primitives during one handshake, and `replay` runs them again
  in a timed loop (the crypto-bound rate);
* inside the server (``benchmarks/serve_timed.py``), the same wrappers add up the CPU time
  (``time.thread_time``) those calls take while the server runs, so that the share of
  its CPU the crypto takes is measured in the same process at the same time.

Only the outermost call counts: a MAC inside ``RdpCipher.protect`` is not counted twice.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CryptoCall", "CryptoRecorder", "replay"]


@dataclasses.dataclass(slots=True)
class CryptoCall:
    """One recorded crypto call: ``kind`` "call", "new" (an object) or "method"."""

    label: str
    kind: str
    target: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    obj: int = 0


_CALLER_LABELS = {
    "_on_security_exchange": "rsa: client random",
    "rsa_decrypt_blob": "rsa: premaster secret",
}


class CryptoRecorder:
    """Records the server core's calls into the crypto primitives while ``active``.

    With a ``timer`` (``time.thread_time``) nothing is recorded: the calls' time is
    added to ``seconds`` and counted in ``count``.
    """

    def __init__(self, timer: Callable[[], float] | None = None) -> None:
        self.calls: list[CryptoCall] = []
        self.active = False
        self.timer = timer
        self.seconds = 0.0
        self.count = 0
        self._depth = 0
        self._undo: list[Callable[[], None]] = []

    def _record(self, call: CryptoCall, run: Callable[[], Any]) -> Any:
        outer = self.active and self._depth == 0
        timer = self.timer
        if outer and timer is None:
            self.calls.append(call)
        self._depth += 1
        started = timer() if outer and timer is not None else 0.0
        try:
            return run()
        finally:
            self._depth -= 1
            if outer and timer is not None:
                self.seconds += timer() - started
                self.count += 1

    def _function(self, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            name = label
            if label == "rsa":
                caller = sys._getframe(1).f_code.co_name
                name = _CALLER_LABELS.get(caller, f"rsa: private op from {caller}")
            call = CryptoCall(name, "call", original, args, kwargs)
            return self._record(call, lambda: original(*args, **kwargs))

        return wrapper

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        old = getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, old))

    def install(self, *, tls: bool = False) -> None:
        """Wrap the primitives; with ``tls``, the TLS handshakes (``ssl.SSLObject``) too."""
        import hashlib

        from rdplic.crypto import licensing, rdp_security, rsa

        functions = {
            rsa.rsa_private_op: "rsa",
            rdp_security.derive_session_keys: "session keys",
            licensing.derive_licensing_keys: "licensing keys",
            licensing.rc4: "licensing rc4",
            licensing.mac_data: "licensing mac",
            licensing.verify_mac: "licensing mac",
        }
        wrappers = {id(f): self._function(label, f) for f, label in functions.items()}
        # Replace each primitive wherever it was imported by name.
        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "")
            if not name.startswith("rdplic."):
                continue
            for attr, value in list(vars(module).items()):
                if id(value) in wrappers and any(value is f for f in functions):
                    self._patch(module, attr, wrappers[id(value)])
        for name in ("md5", "sha1", "sha256"):
            self._patch(
                hashlib, name, self._function(f"other hashing ({name})", getattr(hashlib, name))
            )
        cipher = rdp_security.RdpCipher
        init, protect, unprotect = cipher.__init__, cipher.protect, cipher.unprotect
        recorder = self

        def new_cipher(this: Any, *args: Any, **kwargs: Any) -> None:
            call = CryptoCall("rdp security rc4 + mac", "new", cipher, args, kwargs, id(this))
            recorder._record(call, lambda: init(this, *args, **kwargs))

        def method(original: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(this: Any, *args: Any, **kwargs: Any) -> Any:
                call = CryptoCall(
                    "rdp security rc4 + mac", "method", original, args, kwargs, id(this)
                )
                return recorder._record(call, lambda: original(this, *args, **kwargs))

            return wrapper

        self._patch(cipher, "__init__", new_cipher)
        self._patch(cipher, "protect", method(protect))
        self._patch(cipher, "unprotect", method(unprotect))
        # OpenSSL's RSA (signatures of issued licenses, checks of presented ones) is
        # reached through the keys' cryptography objects.
        for key_class, label in ((rsa.RsaPrivateKey, "rsa: "), (rsa.RsaPublicKey, "rsa: ")):
            convert = key_class.to_cryptography
            self._patch(key_class, "to_cryptography", self._proxy(convert, label))
        if tls:
            import ssl

            handshake = ssl.SSLObject.do_handshake

            def do_handshake(this: Any) -> Any:
                call = CryptoCall("tls handshake (OpenSSL)", "method", handshake, (), {}, id(this))
                return recorder._record(call, lambda: handshake(this))

            self._patch(ssl.SSLObject, "do_handshake", do_handshake)

    def _proxy(self, convert: Callable[[Any], Any], label: str) -> Callable[[Any], Any]:
        recorder = self

        class KeyProxy:
            def __init__(self, native: Any) -> None:
                self._native = native

            def __getattr__(self, name: str) -> Any:
                attr = getattr(self._native, name)
                if name not in ("sign", "verify", "decrypt"):
                    return attr
                what = {"sign": "license signature", "verify": "signature check"}.get(name, name)
                return recorder._function(f"{label}{what} (OpenSSL)", attr)

        return lambda key: KeyProxy(convert(key))

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()


def replay(calls: list[CryptoCall], costs: dict[str, float]) -> None:
    """Run the recorded calls once, in order, adding each one's time to ``costs``."""
    objects: dict[int, Any] = {}
    clock = time.perf_counter
    for call in calls:
        started = clock()
        if call.kind == "new":
            objects[call.obj] = call.target(*call.args, **call.kwargs)
        elif call.kind == "method":
            call.target(objects[call.obj], *call.args, **call.kwargs)
        else:
            call.target(*call.args, **call.kwargs)
        costs[call.label] = costs.get(call.label, 0.0) + clock() - started
