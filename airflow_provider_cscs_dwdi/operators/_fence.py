"""The push's fence: before each Waldur write, proof that this try is still the live one.

When a worker host is lost, Airflow's scheduler marks the task instance failed or up for retry
once its heartbeats stop, and the retry may start on another worker. If only the worker's
supervisor process died, the task process it forked lives on as an orphan and would go on
writing. Every Waldur write of the push therefore first asks Airflow, through the task SDK, for
the state of its own task instance (:class:`LiveTryFence`):

* an orphan's task SDK calls go to its dead supervisor and fail: the orphan stops writing;
* a supervisor that cannot reach the API server cannot answer either: the push stops;
* a task instance Airflow no longer holds as ``running`` (failed, up for retry, queued again)
  stops the push, before the retry's writes can interleave with this try's.

A positive answer is trusted for ``recheck_after_seconds`` (default 1 s), so the check costs one
round trip per second of writing, not one per write. See docs/one-push-at-a-time.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: The only state in which a try may write.
LIVE_STATE = "running"
DEFAULT_RECHECK_AFTER_SECONDS = 1.0


class NotTheLiveTryError(Exception):
    """This try of the push may not write any more (its supervisor is gone or Airflow moved on)."""


class LiveTryFence:
    """Raises :class:`NotTheLiveTryError` unless Airflow holds this task instance as running.

    :param read_state: returns the task instance's state as Airflow's API server holds it; any
        exception means the state cannot be proven (e.g. the supervisor is gone).
    :param recheck_after_seconds: how long a ``running`` answer is trusted (default
        :data:`DEFAULT_RECHECK_AFTER_SECONDS`, read when the fence is made).
    :param clock: monotonic seconds (tests pin it).
    """

    def __init__(
        self,
        read_state: Callable[[], str | None],
        *,
        recheck_after_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_state = read_state
        self._recheck_after_seconds = (
            DEFAULT_RECHECK_AFTER_SECONDS if recheck_after_seconds is None else recheck_after_seconds
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._live_until: float | None = None
        self.checks = 0

    def check(self) -> None:
        """Return when this try may write; raise NotTheLiveTryError otherwise."""
        # One check at a time: the parallel writers wait for one answer instead of each asking.
        with self._lock:
            if self._live_until is not None and self._clock() < self._live_until:
                return
            self._live_until = None
            self.checks += 1
            try:
                state = self._read_state()
            # Any failure of the task SDK leaves liveness unproven: an orphan's supervisor is gone.
            except Exception as error:
                raise NotTheLiveTryError(
                    "this try cannot reach its Airflow supervisor to confirm it is still the live try "
                    f"({type(error).__name__}); the worker was probably lost"
                ) from error
            if str(state) != LIVE_STATE:
                raise NotTheLiveTryError(
                    f"Airflow no longer holds this task instance as running (it is {state!r}); "
                    "another try may be writing"
                )
            self._live_until = self._clock() + self._recheck_after_seconds


def task_instance_fence(task_instance: Any) -> LiveTryFence | None:
    """A fence asking the task SDK for ``task_instance``'s own state, or None without a task runner.

    Only a task instance run by Airflow's task runner can ask (``get_task_states`` goes through its
    supervisor); a bare ``execute()`` outside Airflow has no other try to be fenced from.
    """
    get_task_states = getattr(task_instance, "get_task_states", None)
    if get_task_states is None:
        return None
    dag_id, run_id, task_id = task_instance.dag_id, task_instance.run_id, task_instance.task_id
    map_index = task_instance.map_index
    # The API server names a mapped task instance "<task_id>_<map_index>".
    key = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"

    def read_state() -> str | None:
        states = get_task_states(dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index)
        state = states.get(run_id, {}).get(key)
        return None if state is None else str(state)

    return LiveTryFence(read_state)
