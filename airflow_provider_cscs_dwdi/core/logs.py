"""The logger type of helpers that both Airflow tasks and plain Python call."""

from __future__ import annotations

from typing import Any, Protocol


class Log(Protocol):
    """What the provider's helpers log through: a ``logging.Logger`` or Airflow's task logger
    (``BaseOperator.log`` / ``BaseHook.log``, a structlog logger that is not a ``logging.Logger``)."""

    def info(self, message: Any, /, *args: Any) -> Any: ...

    def warning(self, message: Any, /, *args: Any) -> Any: ...
