"""Exception types shared by the core, the hooks and the operators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.core.issues import Issue


class CscsDwdiError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigurationError(CscsDwdiError):
    """A configuration value (connection, YAML, component) is missing or wrong."""


class UsageDataError(CscsDwdiError):
    """DWDI data cannot be billed as it is; ``issues`` lists every offending record."""

    def __init__(self, message: str, issues: Sequence[Issue] | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])


class ReportError(CscsDwdiError):
    """A document handed between tasks (above all the report) does not have its documented shape."""
