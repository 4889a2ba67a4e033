"""Where the operators read the current time: one seam that tests pin instead of the wall clock.

The billing month of a run comes from the run itself, but three decisions depend on when a task
actually runs: which month is the current one (``billing_months``, ``push_to_waldur``), the last
day of a month-to-date fetch window (``fetch_usage``), and the ``date`` Waldur gets with a write
(none is safe in the first hours UTC of a month). Each operator takes a ``clock`` parameter; one
built without it (every operator of the DAG factory) reads :data:`default_clock`, which a test
replaces to run the whole DAG at a chosen instant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""A callable returning the current time, time-zone aware."""


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


default_clock: Clock = system_clock
"""What an operator built without its own ``clock`` reads (tests pin it; nothing else sets it)."""


def read_clock(clock: Clock | None) -> datetime:
    """The time on ``clock``, or on :data:`default_clock` when the operator was given none."""
    return (clock or default_clock)()
