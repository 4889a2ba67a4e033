"""Exception types shared by the core, the hooks and the operators."""

from __future__ import annotations

from typing import Any


class CscsDwdiError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigurationError(CscsDwdiError):
    """A configuration value (connection, YAML, component) is missing or wrong."""


class ReportError(CscsDwdiError):
    """A document handed between tasks (above all the report) does not have its documented shape."""


def __getattr__(name: str) -> Any:
    # UsageDataError carries Issues, so it lives in core.issues (this module imports nothing of
    # the provider); the old import path keeps working for modules not yet moved.
    if name == "UsageDataError":
        from airflow_provider_cscs_dwdi.core.issues import UsageDataError

        return UsageDataError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
