"""Raw (unpadded) RSA private operations through the system's OpenSSL ``libcrypto``.

RDP's RSA has no padding (MS-RDPBCGR 5.3.4.1, MS-RDPELE 5.1.1), and ``cryptography`` offers
none without padding, so the server's two private operations per handshake (the client
random of Standard RDP Security, the licensing premaster secret) cannot go through it.
They must still not be done with a plain modular exponentiation: any client that can
connect could time them.  OpenSSL's RSA decryption is constant time (``BN_mod_exp_mont``
with ``BN_FLG_CONSTTIME``) and blinded (``RSA_FLAG_BLINDING``, on by default), and
``EVP_PKEY_decrypt`` with ``RSA_NO_PADDING`` gives exactly the textbook operation RDP
needs.  This module reaches it through ``ctypes``: five functions of libcrypto's stable
public API (``d2i_PrivateKey``, ``EVP_PKEY_CTX_new``, ``EVP_PKEY_decrypt_init``,
``EVP_PKEY_CTX_set_rsa_padding``, ``EVP_PKEY_decrypt``), available since OpenSSL 1.0.

`load` returns None when no libcrypto can be loaded; `rdplic.crypto.rsa` then falls back
to its own blinded, constant-time exponentiation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from typing import Any

__all__ = ["OpenSslRsa", "load"]

_EVP_PKEY_RSA = 6
_RSA_NO_PADDING = 3
_EVP_PKEY_CTRL_RSA_PADDING = 0x1001  # for OpenSSL 1.x, where set_rsa_padding is a macro
_EVP_PKEY_OP_TYPE_CRYPT = (1 << 8) | (1 << 9)

_LIBRARY_NAMES = ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib")


def _find_library() -> ctypes.CDLL | None:
    candidates = list(_LIBRARY_NAMES)
    found = ctypes.util.find_library("crypto")
    if found:
        candidates.insert(0, found)
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


class _Handle:
    """One key loaded into OpenSSL: its EVP_PKEY and a decryption context, freed with it."""

    __slots__ = ("__weakref__", "context", "lock", "size")

    def __init__(self, context: int, size: int) -> None:
        self.context = context
        self.size = size
        # One EVP_PKEY_CTX per key, reused: a context is not safe for two threads at once.
        self.lock = threading.Lock()


class OpenSslRsa:
    """The libcrypto functions this module calls, with their C signatures declared."""

    def __init__(self, library: ctypes.CDLL) -> None:
        lib = library
        self.version = _version(lib)
        lib.d2i_PrivateKey.restype = ctypes.c_void_p
        lib.d2i_PrivateKey.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_long,
        ]
        lib.EVP_PKEY_free.restype = None
        lib.EVP_PKEY_free.argtypes = [ctypes.c_void_p]
        lib.EVP_PKEY_CTX_new.restype = ctypes.c_void_p
        lib.EVP_PKEY_CTX_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.EVP_PKEY_CTX_free.restype = None
        lib.EVP_PKEY_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_PKEY_decrypt_init.restype = ctypes.c_int
        lib.EVP_PKEY_decrypt_init.argtypes = [ctypes.c_void_p]
        lib.EVP_PKEY_decrypt.restype = ctypes.c_int
        lib.EVP_PKEY_decrypt.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.ERR_clear_error.restype = None
        lib.ERR_clear_error.argtypes = []
        self._set_padding: Any
        if hasattr(lib, "EVP_PKEY_CTX_set_rsa_padding"):  # OpenSSL 3: a function
            lib.EVP_PKEY_CTX_set_rsa_padding.restype = ctypes.c_int
            lib.EVP_PKEY_CTX_set_rsa_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
            self._set_padding = lib.EVP_PKEY_CTX_set_rsa_padding
        else:  # OpenSSL 1.x: the macro's expansion
            lib.EVP_PKEY_CTX_ctrl.restype = ctypes.c_int
            lib.EVP_PKEY_CTX_ctrl.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_void_p,
            ]
            ctrl = lib.EVP_PKEY_CTX_ctrl

            def set_padding(context: int, padding: int) -> int:
                return int(
                    ctrl(
                        context,
                        _EVP_PKEY_RSA,
                        _EVP_PKEY_OP_TYPE_CRYPT,
                        _EVP_PKEY_CTRL_RSA_PADDING,
                        padding,
                        None,
                    )
                )

            self._set_padding = set_padding
        self._lib = lib

    def load_key(self, der: bytes, size: int) -> _Handle:
        """An RSA private key (PKCS#1 DER) ready for raw decryption of ``size``-byte blocks.

        :raises ValueError: OpenSSL refused the key or the context
        """
        lib = self._lib
        lib.ERR_clear_error()
        buffer = ctypes.c_char_p(der)
        pkey = lib.d2i_PrivateKey(_EVP_PKEY_RSA, None, ctypes.byref(buffer), len(der))
        if not pkey:
            lib.ERR_clear_error()
            raise ValueError("OpenSSL did not accept the RSA key")
        context = lib.EVP_PKEY_CTX_new(pkey, None)
        # The context holds its own reference to the key.
        lib.EVP_PKEY_free(pkey)
        if not context:
            raise ValueError("OpenSSL could not make a context for the RSA key")
        if (
            lib.EVP_PKEY_decrypt_init(context) <= 0
            or self._set_padding(context, _RSA_NO_PADDING) <= 0
        ):
            lib.EVP_PKEY_CTX_free(context)
            lib.ERR_clear_error()
            raise ValueError("OpenSSL refused raw RSA decryption with this key")
        handle = _Handle(context, size)
        weakref.finalize(handle, lib.EVP_PKEY_CTX_free, context)
        return handle

    def private_op(self, handle: _Handle, block: bytes) -> bytes:
        """``block^d mod n``, big-endian in and out, ``handle.size`` bytes each.

        :raises ValueError: OpenSSL refused the input (not below the modulus)
        """
        out = ctypes.create_string_buffer(handle.size)
        length = ctypes.c_size_t(handle.size)
        with handle.lock:
            done = self._lib.EVP_PKEY_decrypt(
                handle.context, out, ctypes.byref(length), block, len(block)
            )
        if done <= 0:
            self._lib.ERR_clear_error()
            raise ValueError("OpenSSL refused the RSA input")
        return out.raw[: length.value].rjust(handle.size, b"\0")


def _version(lib: ctypes.CDLL) -> str:
    try:
        function = lib.OpenSSL_version
        function.restype = ctypes.c_char_p
        function.argtypes = [ctypes.c_int]
        raw: bytes = function(0)
        return raw.decode("ascii", "replace")
    except AttributeError:  # OpenSSL 1.0
        return "OpenSSL (version unknown)"


def load() -> OpenSslRsa | None:
    """The system's libcrypto with its raw RSA decryption, or None when there is none."""
    library = _find_library()
    if library is None:
        return None
    try:
        return OpenSslRsa(library)
    except AttributeError:  # a libcrypto without these functions
        return None
