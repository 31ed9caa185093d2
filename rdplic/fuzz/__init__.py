"""Coverage-guided fuzzing of rdplic's own parsers and state machines (``rdplic fuzz``).

`rdplic.fuzz.targets` names every harness (`TARGETS`), `rdplic.fuzz.seeds` finds their
seed inputs, `rdplic.fuzz.runner` runs one under atheris and minimises what it finds.
atheris comes with the ``fuzz`` extra (``pip install 'rdplic[fuzz]'``); the targets
themselves need nothing more than rdplic, so tests replay findings without it.
"""
