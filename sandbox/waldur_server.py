"""The in-memory Waldur double, kept importable under its old name; it lives in :mod:`sandbox.waldur`.

``python -m sandbox.waldur_server ...`` still runs it (same arguments as ``python -m sandbox.waldur``).
"""

from __future__ import annotations

# The old module name re-exports exactly the package's public names (stack.py, demo.py, benchmarks).
from sandbox.waldur import *  # noqa: F403
from sandbox.waldur import __all__  # noqa: F401
from sandbox.waldur.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
