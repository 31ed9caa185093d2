"""Speed of the licensing crypto: raw RSA against OpenSSL, and one handshake's symmetric work.

Run: ``.venv/bin/python benchmarks/crypto.py`` (``--quick`` for fewer runs).

A license server does one RSA private operation per licensing handshake (the
EncryptedPreMasterSecret of a New License Request or License Info) and one more
per Standard RDP Security exchange (the client random).  RDP's RSA is raw and
little-endian, which OpenSSL does not offer through ``cryptography``, so
`rdplic.crypto.rsa` calls the system's libcrypto (``EVP_PKEY_decrypt`` with
``RSA_NO_PADDING``) and falls back to GMP's constant-time ``powmod_sec``,
blinded.  For a 2048-bit key this prints, from the same run and interleaved so
that machine load hits all alike, the median time of:

* ``OpenSSL decrypt`` — ``cryptography``'s PKCS#1 v1.5 decryption of a
  2048-bit ciphertext with the same key (OpenSSL's own CRT, blinding, padding
  check): the reference;
* ``rsa_private_op`` — what the server runs (the backend `rsa_backend` names),
  and ``decrypt_premaster``, with the byte conversions around it;
* ``rdplic OpenSSL raw`` and ``rdplic GMP blinded`` — each backend on its own;
* ``GMP powmod (unsafe)`` — the plain CRT exponentiation the server used before
  (not constant time, not blinded), and pure Python ``pow``, for reference;

and the ratio of `rsa_private_op` to OpenSSL (target: at most 1.2x).  It then times the symmetric
work of one handshake (key derivation, RC4 and MACData of the platform
challenge, the response and the hardware id, the encrypted license) and the
issuing of one license (a 2048-bit PKCS#1 signature through OpenSSL).

Figures are printed, never asserted: timing depends on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gmpy2  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

from rdplic.crypto import (  # noqa: E402
    LicenseFields,
    LicenseServerIdentity,
    build_license_server_certificate,
    decrypt_premaster,
    derive_licensing_keys,
    encrypt_premaster,
    issue_license,
    load_private_key,
    mac_data,
    rc4,
    rsa_backend,
    rsa_private_op,
    verify_mac,
)
from rdplic.crypto import rsa as rdplic_rsa  # noqa: E402

BITS = 2048


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f} us"


def interleaved(functions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    clock = time.perf_counter
    for _ in range(runs):
        for name, function in functions.items():
            start = clock()
            function()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def rsa_figures(runs: int, slow_runs: int) -> None:
    native = rsa.generate_private_key(65537, BITS)
    key = load_private_key(
        native.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ciphertext = native.public_key().encrypt(os.urandom(48), padding.PKCS1v15())
    c = int.from_bytes(ciphertext, "big")
    blob = encrypt_premaster(key.public, os.urandom(48))
    assert rsa_private_op(key, c) == pow(c, key.d, key.n)

    def gmp_unsafe() -> int:
        p, q, dp, dq, qinv, _ = key._gmp
        m1 = gmpy2.powmod(c, dp, p)
        m2 = gmpy2.powmod(c, dq, q)
        return int(m2 + (qinv * (m1 - m2)) % p * q)

    functions: dict[str, Callable[[], object]] = {
        "OpenSSL decrypt": lambda: native.decrypt(ciphertext, padding.PKCS1v15()),
        "rsa_private_op": lambda: rsa_private_op(key, c),
        "decrypt_premaster": lambda: decrypt_premaster(key, blob),
    }
    if rdplic_rsa._OPENSSL is not None:
        functions["rdplic OpenSSL raw"] = lambda: rdplic_rsa._openssl_private_op(key, c)
    functions["rdplic GMP blinded"] = lambda: rdplic_rsa._gmp_private_op(key, c)
    functions["GMP powmod (unsafe)"] = gmp_unsafe
    medians = interleaved(functions, runs)

    def python_crt() -> int:
        m1 = pow(c % key.p, key.dp, key.p)
        m2 = pow(c % key.q, key.dq, key.q)
        return m2 + (key.qinv * (m1 - m2) % key.p) * key.q

    slow = interleaved(
        {
            "pure Python pow, CRT": python_crt,
            "pure Python pow": lambda: pow(c, key.d, key.n),
        },
        slow_runs,
    )
    openssl = medians["OpenSSL decrypt"]
    print(f"RSA-{BITS} private operation (median of {runs}; pure Python: of {slow_runs})")
    print(f"  the server runs: {rsa_backend()}")
    for name, seconds in {**medians, **slow}.items():
        print(f"  {name:<22}{_us(seconds)}   {seconds / openssl:5.2f}x OpenSSL")
    ratio = medians["rsa_private_op"] / openssl
    verdict = "within" if ratio <= 1.2 else "OVER"
    print(f"  -> rsa_private_op is {ratio:.2f}x OpenSSL's decryption ({verdict} the 1.2x target)")


def handshake_figures(runs: int) -> None:
    client_random, server_random, premaster = os.urandom(32), os.urandom(32), os.urandom(48)
    challenge = "TEST\0".encode("utf-16-le")
    response = bytes.fromhex("000100010300 0a00") + challenge
    hwid = os.urandom(20)
    license_info = os.urandom(2000)

    def server_side() -> None:
        keys = derive_licensing_keys(premaster, client_random, server_random)
        key, salt = keys.licensing_encryption_key, keys.mac_salt_key
        rc4(key, challenge)
        mac_data(salt, challenge)
        plain_response = rc4(key, rc4(key, response))
        plain_hwid = rc4(key, rc4(key, hwid))
        verify_mac(salt, plain_response + plain_hwid, mac_data(salt, response + hwid))
        rc4(key, license_info)
        mac_data(salt, license_info)

    medians = interleaved(
        {
            "derive_licensing_keys": lambda: derive_licensing_keys(
                premaster, client_random, server_random
            ),
            "mac_data (20 bytes)": lambda: mac_data(premaster[:16], hwid),
            "rc4 (20 bytes)": lambda: rc4(premaster[:16], hwid),
            "whole handshake": server_side,
        },
        runs,
    )
    print(f"Symmetric work of one licensing handshake (median of {runs})")
    for name, seconds in medians.items():
        print(f"  {name:<22}{_us(seconds)}")


def issue_figures(runs: int) -> None:
    native = rsa.generate_private_key(65537, BITS)
    key = load_private_key(
        native.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    certificate = build_license_server_certificate(
        key, name="WIN-BENCH", scope="WORKGROUP", created=now
    )
    issuer = LicenseServerIdentity(
        "WIN-BENCH", "WORKGROUP", "00429-00000-00000-AT000", key, certificate
    )
    fields = LicenseFields(
        license_id=0x0300000001,
        hwid=os.urandom(20),
        client_machine_name="CLIENT",
        client_user_name="user",
        product_major=10,
        product_minor=1,
        temporary=True,
        issued=now,
        expires=now + timedelta(days=90),
    )
    issue_license(issuer, fields)  # builds and caches the OpenSSL key object
    medians = interleaved({"issue_license": lambda: issue_license(issuer, fields)}, runs)
    print(f"Issuing one license with a {BITS}-bit license server key (median of {runs})")
    print(f"  {'issue_license':<22}{_us(medians['issue_license'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 50 if args.quick else 400
    rsa_figures(runs, 5 if args.quick else 30)
    print()
    handshake_figures(runs * 5)
    print()
    issue_figures(runs // 4)


if __name__ == "__main__":
    main()
