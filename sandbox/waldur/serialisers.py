"""JSON representations of the double's records, field for field as Waldur's serializers give them.

Absolute URLs (hyperlinks here, ``Link`` headers in :mod:`sandbox.waldur.pagination`) start with
``base_url``: the server's own URL, or the one it was told to advertise (a Django server behind a
TLS-terminating proxy builds ``http://`` or internal-host URLs while clients use ``https://``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.waldur.state import (
    Component,
    ComponentUsage,
    Offering,
    OfferingUser,
    Principal,
    Resource,
    UserUsage,
    WaldurState,
)

_OFFERING_TYPE = "Marketplace.Slurm"


def restrict(row: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Waldur's ``field=`` selection: keep only the named keys (unknown names are ignored)."""
    if not fields:
        return row
    return {key: value for key, value in row.items() if key in fields}


class Serialisers:
    """Turns records of ``state`` into response rows; 8.x-only fields appear on 8.x only."""

    def __init__(self, state: WaldurState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url

    # ------------------------------------------------------------------ hyperlinks

    def offering_url(self, offering_uuid: str) -> str:
        """The API URL of an offering."""
        return f"{self.base_url}/api/marketplace-provider-offerings/{offering_uuid}/"

    def offering_user_url(self, offering_user_uuid: str) -> str:
        """The API URL of an offering user (what a user usage's ``user`` links to)."""
        return f"{self.base_url}/api/marketplace-offering-users/{offering_user_uuid}/"

    def _ownership(self) -> dict[str, Any]:
        return {
            "project_uuid": self.state.project["uuid"],
            "project_name": self.state.project["name"],
            "customer_uuid": self.state.customer["uuid"],
            "customer_name": self.state.customer["name"],
        }

    def _usage_scope(self, resource: Resource, offering: Offering) -> dict[str, Any]:
        # What a (user) usage row says about where it belongs, in the real serializers' key order.
        return {
            "resource_name": resource.name,
            "resource_uuid": resource.uuid,
            "offering_name": offering.name,
            "offering_uuid": offering.uuid,
            **self._ownership(),
        }

    # ------------------------------------------------------------------ rows

    def component(self, component: Component) -> dict[str, Any]:
        """An offering component."""
        row: dict[str, Any] = {
            "uuid": component.uuid,
            "type": component.type,
            "name": component.name,
            "description": "",
            "billing_type": component.billing_type,
            "measured_unit": component.measured_unit,
            "limit_period": None,
            "limit_amount": None,
            "article_code": "",
            "max_value": None,
            "min_value": None,
            "max_available_limit": None,
            "is_boolean": False,
            "default_limit": None,
            "factor": 1,
            "is_builtin": False,
            "is_prepaid": component.is_prepaid,
        }
        if self.state.version == "8":
            row["unit_factor"] = component.unit_factor
        else:
            # 7.0.7's OfferingComponentSerializer has neither unit_factor nor is_prepaid.
            del row["is_prepaid"]
        return row

    def offering(self, offering: Offering) -> dict[str, Any]:
        """A provider offering with its components."""
        return {
            "url": self.offering_url(offering.uuid),
            "uuid": offering.uuid,
            "name": offering.name,
            "type": _OFFERING_TYPE,
            "state": "Active",
            "backend_id": offering.backend_id,
            "customer_uuid": self.state.customer["uuid"],
            "customer_name": self.state.customer["name"],
            "components": [self.component(c) for c in offering.components.values()],
        }

    def resource(self, resource: Resource) -> dict[str, Any]:
        """A provider resource."""
        offering = self.state.offerings[resource.offering_uuid]
        row: dict[str, Any] = {
            "url": f"{self.base_url}/api/marketplace-provider-resources/{resource.uuid}/",
            "uuid": resource.uuid,
            "name": resource.name,
            "backend_id": resource.backend_id,
            "state": resource.state,
            "offering": self.offering_url(offering.uuid),
            "offering_uuid": offering.uuid,
            "offering_name": offering.name,
            "offering_type": _OFFERING_TYPE,
            **self._ownership(),
            "created": resource.created,
            "modified": resource.created,
        }
        if self.state.version == "8":
            row["offering_backend_id"] = offering.backend_id
        return row

    def component_usage(self, row: ComponentUsage) -> dict[str, Any]:
        """A component usage (one total of one billing period)."""
        resource = self.state.resources[row.resource_uuid]
        offering = self.state.offerings[resource.offering_uuid]
        component = offering.components[row.component_type]
        return {
            "uuid": row.uuid,
            "created": row.created,
            "description": row.description,
            "type": component.type,
            "name": component.name,
            "measured_unit": component.measured_unit,
            # DecimalField -> "10.50" like the real server (the schema says integer; see schema.py).
            "usage": row.usage,
            "date": row.date,
            "recurring": row.recurring,
            **self._usage_scope(resource, offering),
            "billing_period": row.billing_period,
            "modified_by": row.modified_by,
        }

    def user_usage(self, user_usage: UserUsage) -> dict[str, Any]:
        """A component user usage (one username's share of a component usage)."""
        parent = self.state.component_usages[user_usage.component_usage_uuid]
        resource = self.state.resources[parent.resource_uuid]
        offering = self.state.offerings[resource.offering_uuid]
        # The 20 keys of 7.0.7's ComponentUserUsageSerializer; 8.x adds billing_period.
        row: dict[str, Any] = {
            "uuid": user_usage.uuid,
            "user": (
                self.offering_user_url(user_usage.offering_user_uuid)
                if user_usage.offering_user_uuid
                else None
            ),
            "username": user_usage.username,
            "component_usage": f"{self.base_url}/api/marketplace-component-usages/{parent.uuid}/",
            "usage": user_usage.usage,
            "measured_unit": offering.components[parent.component_type].measured_unit,
            "description": "",
            "created": user_usage.created,
            "modified": user_usage.modified,
            "backend_id": "",
            **self._usage_scope(resource, offering),
            "component_type": parent.component_type,
            "date": parent.date,
        }
        if self.state.version == "8":
            row["billing_period"] = parent.billing_period
        return row

    def offering_user(self, offering_user: OfferingUser) -> dict[str, Any]:
        """An offering user (8.x adds ``state``)."""
        offering = self.state.offerings[offering_user.offering_uuid]
        row: dict[str, Any] = {
            "url": self.offering_user_url(offering_user.uuid),
            "uuid": offering_user.uuid,
            "user": f"{self.base_url}/api/users/{offering_user.user_uuid}/",
            "offering": self.offering_url(offering.uuid),
            "username": offering_user.username,
            "offering_uuid": offering.uuid,
            "offering_name": offering.name,
            "user_uuid": offering_user.user_uuid,
            "user_username": offering_user.username,
            "user_full_name": offering_user.username.title(),
            "created": offering_user.created,
            "modified": offering_user.created,
        }
        if self.state.version == "8":
            row["state"] = "OK"
        return row

    def user(self, principal: Principal) -> dict[str, Any]:
        """The user a token belongs to (``/api/users/me/``)."""
        return {
            "url": f"{self.base_url}/api/users/{principal.uuid}/",
            "uuid": principal.uuid,
            "username": principal.username,
            "full_name": principal.full_name,
            "email": f"{principal.username}@sandbox.example.org",
            "is_staff": principal.is_staff,
            "is_support": False,
            "is_active": True,
            "date_joined": datetime(2020, 1, 1, tzinfo=UTC),
        }
