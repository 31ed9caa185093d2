"""Running a fuzz target under atheris (libFuzzer), recording and minimising findings.

`run` starts one fuzzing process (``python -m rdplic.fuzz.runner``): libFuzzer owns that
process and ends it with ``exit()``, so the caller stays outside it and, once it has ended,
minimises what it found.  Inside, every input goes through `check_one`: the target's
documented errors are a correct answer; any other exception is a finding, written to the
findings directory as ``raw-<sha1>`` with its traceback, and fuzzing goes on.  Hangs
(``-timeout``) and memory past ``-rss_limit_mb`` are libFuzzer's own findings
(``timeout-*``, ``oom-*``, ``crash-*`` in the same directory).

Coverage: the modules of `Target.instrument` are instrumented as they are imported, and the
generated struct code of `pdu.licensing` (compiled at run time, where import-time
instrumentation never sees it) is instrumented explicitly by `instrument_generated_code`.

`minimise` shrinks a finding (delta debugging: remove chunks, then lower bytes) while it
still fails the same way (the same exception type raised from the same place).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FuzzRun",
    "check_one",
    "failure_signature",
    "instrument_generated_code",
    "minimise",
    "run",
    "save_finding",
]


def failure_signature(target: Any, data: bytes) -> str | None:
    """None when ``target`` handles ``data`` correctly, else what went wrong: the exception
    type and the innermost rdplic frame it came from (the identity of a finding)."""
    try:
        target.run(data)
    except target.expected:
        return None
    except Exception as error:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "rdplic" in f.filename]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
        return f"{type(error).__name__} at {where}"
    return None


def save_finding(directory: Path, target: Any, data: bytes, error: BaseException) -> Path:
    """Write ``data`` and its traceback to ``directory`` as ``raw-<sha1>`` (once per input)."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()
    path = directory / f"raw-{digest}"
    if not path.exists():
        path.write_bytes(data)
        text = "".join(traceback.format_exception(error))
        (directory / f"raw-{digest}.txt").write_text(f"target: {target.name}\n{text}")
    return path


def check_one(target: Any, findings: Path) -> Callable[[bytes], None]:
    """The ``TestOneInput`` of ``target``: records any undocumented exception and goes on."""

    def test_one_input(data: bytes) -> None:
        try:
            target.run(data)
        except target.expected:
            pass
        except Exception as error:
            save_finding(findings, target, data, error)

    return test_one_input


def minimise(target: Any, data: bytes, *, budget: float = 30.0) -> bytes:
    """The smallest input found within ``budget`` seconds that fails as ``data`` does."""
    signature = failure_signature(target, data)
    if signature is None:
        return data
    deadline = time.monotonic() + budget
    best = data
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        start, shrunk = 0, False
        while start < len(best) and time.monotonic() < deadline:
            candidate = best[:start] + best[start + chunk :]
            if failure_signature(target, candidate) == signature:
                best, shrunk = candidate, True
            else:
                start += chunk
        if not shrunk:
            chunk //= 2
    for index in range(len(best)):  # then make the bytes left as small as they go
        if time.monotonic() >= deadline:
            break
        for value in (0, 1, best[index] // 2):
            if value < best[index]:
                candidate = best[:index] + bytes([value]) + best[index + 1 :]
                if failure_signature(target, candidate) == signature:
                    best = candidate
                    break
    return best


def instrument_generated_code() -> int:
    """Instrument the struct code that `pdu.licensing` generated at import; returns how many
    functions.  The generated functions live in the namespaces of the StructCodec objects
    of `pdu.licensing.messages` and `pdu.licensing.encrypted`."""
    import atheris

    from rdplic.pdu.licensing import _structcodec

    count = 0
    seen: set[int] = set()
    for module_name in list(sys.modules):
        if not module_name.startswith("rdplic.pdu.licensing"):
            continue
        module = sys.modules[module_name]
        for value in list(vars(module).values()):
            codecs = value.values() if isinstance(value, dict) else [value]
            for codec in codecs:
                if not isinstance(codec, _structcodec.Codec) or codec.struct_codec is None:
                    continue
                namespace = codec.struct_codec.parse.__globals__
                if id(namespace) in seen:
                    continue
                seen.add(id(namespace))
                for item in list(namespace.values()):
                    code = getattr(item, "__code__", None)
                    if code is not None and code.co_filename.startswith("<pdu struct codec"):
                        atheris.instrument_func(item)
                        count += 1
    return count


INSTRUMENTED: dict[str, tuple[str, ...]] = {
    "decode": ("rdplic.pdu",),
    "diff": ("rdplic.pdu",),
    "crypto": ("rdplic.crypto", "rdplic.pdu"),
    "machine": ("rdplic.core", "rdplic.pdu", "rdplic.crypto"),
    "licensing": ("rdplic.core", "rdplic.pdu.licensing", "rdplic.crypto"),
}
"""The packages instrumented for each kind of target (``kind:name``): the code under test,
not its callers (instrumenting everything costs about two thirds of the throughput)."""

_LICENSING = (
    "licensing_pdu",
    "client_hardware_id",
    "platform_challenge_response_data",
    "new_license_info",
)


def instrumented(name: str) -> tuple[str, ...]:
    """The module prefixes instrumented for target ``name``: the licensing decoders only
    their own package (plus the generated struct code), so that they run at full speed."""
    override = os.environ.get("RDPLIC_FUZZ_INSTRUMENT")
    if override is not None:  # benchmarks/fuzz.py compares (comma-separated; "" for none)
        return tuple(filter(None, override.split(",")))
    kind, _, what = name.partition(":")
    if kind in ("decode", "diff") and what in _LICENSING:
        return ("rdplic.pdu.licensing",)
    return INSTRUMENTED.get(kind, ("rdplic",))


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def rdplic_modules() -> list[str]:
    """Every module of the installed rdplic package, by name, found on disk (nothing is
    imported: a module imported here would escape the instrumentation)."""
    root = Path(__file__).resolve().parent.parent
    names = []
    for directory, _, files in os.walk(root, followlinks=True):
        package = Path(directory).relative_to(root).parts
        for file in files:
            if file.endswith(".py"):
                stem = () if file == "__init__.py" else (file[:-3],)
                names.append(".".join(("rdplic", *package, *stem)))
    return sorted(names)


def uninstrumented(prefixes: tuple[str, ...]) -> list[str]:
    """The rdplic modules outside ``prefixes``, for atheris's ``exclude``.

    ``atheris.instrument_imports(include=[...])`` keeps only the top-level package of each
    name it is given (``rdplic.pdu.licensing`` instruments the whole of ``rdplic``, the
    harness included), so the narrower scope is made by excluding every other module by
    its full name; no prefix at all instruments nothing.
    """
    return [module for module in rdplic_modules() if not _in(module, prefixes)]


_IMPORTS: dict[str, tuple[str, ...]] = {
    "crypto": ("rdplic.crypto.license", "rdplic.crypto.x509", "rdplic.crypto.proprietary"),
    "machine": ("rdplic.app", "rdplic.core.connection_client", "rdplic.core.connection_server"),
    "licensing": ("rdplic.app", "rdplic.core.licensing_client", "rdplic.core.licensing_server"),
}
"""What a target imports lazily, imported under instrumentation before fuzzing starts."""


def _child(argv: list[str]) -> None:
    """The fuzzing process: ``TARGET FINDINGS [libFuzzer arguments...]``."""
    import importlib

    import atheris

    name, findings = argv[0], Path(argv[1])
    prefixes = instrumented(name)
    with atheris.instrument_imports(include=["rdplic"], exclude=uninstrumented(prefixes)):
        from rdplic.fuzz.targets import get_target

        for module in _IMPORTS.get(name.partition(":")[0], ()):
            importlib.import_module(module)
    target = get_target(name)
    if os.environ.get("RDPLIC_FUZZ_GENERATED", "1") == "1":  # benchmarks/fuzz.py compares
        instrument_generated_code()
    atheris.Setup([sys.argv[0], *argv[2:]], check_one(target, findings))
    atheris.Fuzz()


class FuzzRun:
    """What one `run` left: libFuzzer's last status line and the findings, minimised."""

    def __init__(self, status: str, findings: list[Path], returncode: int) -> None:
        self.status = status
        self.findings = findings
        self.returncode = returncode


def run(
    name: str,
    *,
    seconds: float,
    corpus: Path | None,
    seeds: dict[str, list[bytes]],
    findings: Path,
    timeout: int = 5,
    rss_limit_mb: int = 2048,
    runs: int | None = None,
    minimise_budget: float = 30.0,
    extra: list[str] | None = None,
    quiet: bool = True,
) -> FuzzRun:
    """Fuzz target ``name`` for ``seconds`` (or ``runs`` inputs), in a child process.

    Seeds of the target's layer are written into ``corpus`` (a new temporary folder when
    None) unless already there; libFuzzer adds the inputs that reach new coverage to it.
    """
    import tempfile

    from rdplic.fuzz.targets import get_target

    target = get_target(name)
    scratch = None
    if corpus is None:
        scratch = tempfile.TemporaryDirectory(prefix="rdplic-corpus-")
        corpus = Path(scratch.name)
    corpus.mkdir(parents=True, exist_ok=True)
    for data in seeds.get(target.layer, []):
        path = corpus / f"seed-{hashlib.sha1(data).hexdigest()}"
        if not path.exists():
            path.write_bytes(data)
    findings.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "rdplic.fuzz.runner",
        name,
        str(findings),
        str(corpus),
        f"-max_total_time={max(1, int(seconds))}",
        f"-timeout={timeout}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
        *(extra or []),
    ]
    if runs is not None:
        args.append(f"-runs={runs}")
    result = subprocess.run(args, capture_output=quiet, text=True, check=False)
    output = (result.stderr or "") if quiet else ""
    status = next(
        (line for line in reversed(output.splitlines()) if "cov:" in line and "exec/s" in line),
        "",
    )
    found = []
    for raw in sorted(findings.iterdir()):
        if raw.name.startswith("raw-") and not raw.name.endswith(".txt"):
            data = raw.read_bytes()
            small = minimise(target, data, budget=minimise_budget)
            digest = hashlib.sha1(small).hexdigest()
            final = findings / f"finding-{digest}"
            final.write_bytes(small)
            (findings / f"finding-{digest}.txt").write_text(
                f"target: {name}\nfailure: {failure_signature(target, small)}\n"
                f"input (hex): {small.hex()}\n"
            )
            raw.unlink()
            raw.with_name(raw.name + ".txt").unlink(missing_ok=True)
            found.append(final)
        elif raw.name.startswith(("crash-", "timeout-", "oom-", "leak-", "slow-unit-")):
            found.append(raw)
    if scratch is not None:
        scratch.cleanup()
    return FuzzRun(status, sorted(set(found)), result.returncode)


if __name__ == "__main__":
    _child(sys.argv[1:])
