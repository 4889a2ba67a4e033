"""``python -m sandbox.waldur``: run the Waldur double (see :mod:`sandbox.waldur.cli`)."""

from sandbox.waldur.cli import main

raise SystemExit(main())
