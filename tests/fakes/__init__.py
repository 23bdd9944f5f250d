"""Test doubles for what no package registry ships (IBM MQ's client and queue manager).

``tests/fakes/ibmmq`` is a fake of PyPI ``ibmmq`` 2.1.2. :func:`fake_ibmmq` puts ``tests/fakes`` first
on ``sys.path`` so that ``import ibmmq`` finds the fake, and undoes that (path and ``sys.modules``)
afterwards. ``tests/fakes/test_fake_ibmmq.py`` checks the fake against the installed package.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

FAKES = Path(__file__).resolve().parent


def _loaded() -> dict[str, ModuleType]:
    return {n: m for n, m in sys.modules.items() if n == "ibmmq" or n.startswith("ibmmq.")}


@contextmanager
def fake_ibmmq() -> Iterator[ModuleType]:
    """The fake ``ibmmq`` module, importable as ``ibmmq`` inside the block, with no queue managers."""
    saved = _loaded()
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(FAKES))
    try:
        import ibmmq  # noqa: PLC0415 - resolves to the fake inserted above

        assert ibmmq.__version__.endswith("-fake"), ibmmq.__file__
        ibmmq.reset()
        yield ibmmq
    finally:
        sys.path.remove(str(FAKES))
        for name in _loaded():
            del sys.modules[name]
        sys.modules.update(saved)
