"""Apache Airflow provider that reports CSCS-DWDI compute usage to Waldur."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
