"""Exception types shared by the core, the hooks and the operators."""

from __future__ import annotations


class CscsDwdiError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigurationError(CscsDwdiError):
    """A configuration value (connection, YAML, component) is missing or wrong."""


class ReportError(CscsDwdiError):
    """A document handed between tasks (above all the report) does not have its documented shape."""
