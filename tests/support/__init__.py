"""Shared helpers for the tests, one module per concern; tests import from the module itself
(``from support.outcomes import outcome``):

- ``oracle``: the reference (iqm-client 17.2, or the pure path where it does not install) and
  the oracle each entry point is compared with;
- ``outcomes``: a call's result or exception as a comparable description (``outcome``);
- ``differential``: checks that our entry point and the oracle's agree without mutating input;
- ``strategies``: hypothesis strategies for status dicts, valid and not;
- ``json_text``: raw JSON documents, generated, hand-picked and damaged;
- ``scripts``: running scripts in a fresh interpreter;
- ``profiles``: the hypothesis profiles, and ``examples(n)``, which scales a test's examples.
"""

__all__: list[str] = []
