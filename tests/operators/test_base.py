"""WaldurBaseOperator: one cached hook per task, released after execute (or a kill), against the sandbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from airflow_provider_cscs_dwdi.operators._base import WaldurBaseOperator
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import CONN_ID, Offering


class RecordingHook(WaldurHook):
    """A real Waldur hook that records its closes (the operator under test builds it)."""

    closed = 0

    def close(self) -> None:
        RecordingHook.closed += 1
        super().close()


class RecordingListOperator(ListWaldurBackendIdsOperator):
    """The list_backend_ids task with a hook that counts its closes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.hooks_built: list[WaldurHook] = []

    @property
    def hook(self) -> WaldurHook:  # type: ignore[override]
        if "hook" not in self.__dict__:
            built = RecordingHook(self.waldur_conn_id)
            self.hooks_built.append(built)
            self.__dict__["hook"] = built
        hook: WaldurHook = self.__dict__["hook"]
        return hook


@pytest.fixture(autouse=True)
def _reset_closes() -> None:
    RecordingHook.closed = 0


def test_the_shared_arguments_and_one_hook_for_the_task() -> None:
    operator = ListWaldurBackendIdsOperator(task_id="ids", offering_uuid="f" * 32, waldur_conn_id="mine")
    assert (operator.waldur_conn_id, operator.offering_uuid, operator.billing_timezone) == (
        "mine",
        "f" * 32,
        "UTC",
    )
    assert isinstance(operator.hook, WaldurHook)
    assert operator.hook is operator.hook  # cached: one hook, one pooled session
    assert operator.hook.waldur_conn_id == "mine"
    assert isinstance(operator, WaldurBaseOperator)


def test_the_hook_is_closed_after_a_successful_execute(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering = seed(waldur_sandbox, {"g001": {}})
    operator = RecordingListOperator(task_id="ids", offering_uuid=offering.uuid, waldur_conn_id=CONN_ID)

    assert operator.execute({})["backend_ids"] == ["g001"]

    assert RecordingHook.closed == 1
    assert "hook" not in operator.__dict__  # a later use builds a fresh hook
    assert operator.execute({})["backend_ids"] == ["g001"]
    assert len(operator.hooks_built) == 2
    assert RecordingHook.closed == 2


def test_the_hook_is_closed_when_execute_fails(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    seed(waldur_sandbox, {"g001": {}}, token="not-a-valid-token")
    operator = RecordingListOperator(task_id="ids", offering_uuid="0" * 32, waldur_conn_id=CONN_ID)

    with pytest.raises(AirflowException, match="refused the API token"):
        operator.execute({})

    assert RecordingHook.closed == 1
    assert "hook" not in operator.__dict__


def test_on_kill_releases_the_hook_and_an_unused_hook_is_never_built(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    seed(waldur_sandbox, {"g001": {}})
    operator = RecordingListOperator(task_id="ids", offering_uuid="0" * 32, waldur_conn_id=CONN_ID)
    operator.on_kill()
    assert operator.hooks_built == []
    assert RecordingHook.closed == 0
    operator.hook.session  # noqa: B018  (builds the hook's session)
    operator.on_kill()
    assert RecordingHook.closed == 1
    assert "hook" not in operator.__dict__
