"""Request handlers of the Waldur double, one module per endpoint family."""

from __future__ import annotations

from sandbox.waldur.api import Route
from sandbox.waldur.handlers import component_usages, resources, user_usages, users

#: Every endpoint of the double (a route absent from a version answers Django's 404 page there).
ROUTES: tuple[Route, ...] = (
    *resources.ROUTES,
    *component_usages.ROUTES,
    *user_usages.ROUTES,
    *users.ROUTES,
)
