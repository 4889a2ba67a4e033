"""The in-memory data model of the Waldur double and the version switches that change it.

Offerings with their components, resources, offering users, component usages (unique per
resource, component type and billing period, like the real table) and per-user usages. All of it
is guarded by one re-entrant ``lock``; request handlers run with it held.

Version switches (``version``): ``"8"`` files a ``set_usage`` at the month of its ``date``;
``"7"`` ignores ``date`` and files the current month (the month of ``today``).
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sandbox.waldur.fields import UsageInput, UserUsageInput, uuid_key

RESOURCE_STATES = ("Creating", "OK", "Erred", "Updating", "Terminating", "Terminated")
BILLING_TYPES = ("fixed", "usage", "limit", "one", "few")
VERSIONS = ("7", "8")
_COMPONENT_TYPE = re.compile(r"^[a-zA-Z0-9_\-/:]{1,50}$")
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class Component:
    """An offering component (what usage is reported for)."""

    uuid: str
    type: str
    name: str
    billing_type: str
    measured_unit: str
    unit_factor: int
    is_prepaid: bool


@dataclass(frozen=True)
class Offering:
    """A marketplace offering and its components by type."""

    uuid: str
    name: str
    backend_id: str
    components: dict[str, Component]


@dataclass
class Resource:
    """A resource (an allocation) of an offering."""

    uuid: str
    offering_uuid: str
    backend_id: str
    name: str
    state: str
    created: datetime


@dataclass(frozen=True)
class OfferingUser:
    """An HPC login of an offering."""

    uuid: str
    offering_uuid: str
    username: str
    user_uuid: str
    created: datetime


@dataclass
class ComponentUsage:
    """The usage total of one (resource, component type, billing period)."""

    uuid: str
    resource_uuid: str
    component_type: str
    billing_period: date
    usage: Decimal
    date: datetime
    created: datetime
    description: str
    recurring: bool
    modified_by: int


@dataclass
class UserUsage:
    """One username's share of a component usage."""

    uuid: str
    component_usage_uuid: str
    username: str
    usage: Decimal
    offering_user_uuid: str | None
    created: datetime
    modified: datetime


@dataclass(frozen=True)
class Principal:
    """The user a token authenticates."""

    id: int
    uuid: str
    username: str
    full_name: str
    is_staff: bool


def new_uuid() -> str:
    """A fresh (version 4) uuid in Waldur's undashed form.

    From the ``random`` module rather than ``os.urandom``: a sandbox's ids need to be unique, not
    unpredictable, and one system call per user usage was a visible part of a bulk write's cost.
    """
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


def month_start(day: date) -> date:
    """The first day of ``day``'s month (a billing period)."""
    return day.replace(day=1)


def parse_components(raw_components: list[dict[str, Any]]) -> dict[str, Component]:
    """Seeding input ``{"type", "billing_type", "measured_unit"}`` (+ optional ``name``,
    ``unit_factor``, ``is_prepaid``) as components by type; ValueError names a bad one."""
    parsed: dict[str, Component] = {}
    for raw in raw_components:
        component = Component(
            uuid=new_uuid(),
            type=raw["type"],
            name=raw.get("name", raw["type"]),
            billing_type=raw["billing_type"],
            measured_unit=raw["measured_unit"],
            unit_factor=int(raw.get("unit_factor", 1)),
            is_prepaid=bool(raw.get("is_prepaid", False)),
        )
        if not _COMPONENT_TYPE.match(component.type):
            raise ValueError(f"component type {component.type!r} is not a valid Waldur component type")
        if component.billing_type not in BILLING_TYPES:
            raise ValueError(f"billing_type must be one of {BILLING_TYPES}, got {component.billing_type!r}")
        if component.type in parsed:
            raise ValueError(f"component type {component.type!r} appears twice")
        parsed[component.type] = component
    return parsed


class WaldurState:
    """Everything the double stores, plus the clock (``today``) and the server's time zone.

    :param listing_seed: the seed of the order in which the usage listings return rows of equal
        date and component type (a new order for each page request, as PostgreSQL does).
    :param time_zone: an IANA name (``"Europe/Zurich"``). When set, a naive ``date`` is read in
        that zone, every ``date`` is converted into it and 8.x files ``set_usage`` at the month of
        ``date`` in that zone, as a Django server with that ``TIME_ZONE`` does. When None (the
        default) the zone is UTC and a ``date`` keeps the offset it was sent with.
    """

    def __init__(
        self,
        *,
        version: str,
        today: date,
        staff_token: str | None,
        time_zone: str | None = None,
        listing_seed: int = 0,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be '7' or '8', got {version!r}")
        self.version = version
        self.today = today
        self.time_zone: tzinfo | None = ZoneInfo(time_zone) if time_zone else None
        # A fixed staff token lets a docker-compose deployment configure its connection up front.
        self.staff_token = staff_token or secrets.token_hex(20)
        self.provider_token = secrets.token_hex(20)
        self.principals = {
            self.staff_token: Principal(1, new_uuid(), "staff", "Sandbox Staff", is_staff=True),
            self.provider_token: Principal(2, new_uuid(), "provider-owner", "Provider Owner", is_staff=False),
        }
        self.expired_tokens: set[str] = set()
        self.customer = {"uuid": new_uuid(), "name": "Sandbox HPC Provider"}
        self.project = {"uuid": new_uuid(), "name": "Sandbox Project"}
        self.offerings: dict[str, Offering] = {}
        self.resources: dict[str, Resource] = {}
        self.offering_users: dict[str, OfferingUser] = {}
        self.component_usages: dict[str, ComponentUsage] = {}
        # (resource uuid, component type, billing period) -> row: the real server's unique key.
        self.component_usages_by_period: dict[tuple[str, str, date], ComponentUsage] = {}
        # (component usage uuid, username) -> row.
        self.user_usages: dict[tuple[str, str], UserUsage] = {}
        self.lock = threading.RLock()
        # listing key -> (table size it was computed at, matching rows); see cached_listing.
        self._listings: dict[Hashable, tuple[int, list[Any]]] = {}
        #: Counts component-usage writes (each can change a row's date: the listings' sort key).
        self.component_usage_writes = 0
        #: Seeds the order of tied rows in the usage listings (``pagination.tie_order``).
        self.listing_seed = listing_seed
        # (path, query) -> how often it was asked: each asking gets a new order of tied rows.
        self.listing_queries: dict[Hashable, int] = {}

    # ------------------------------------------------------------------ seeding

    def add_offering(self, offering: Offering) -> None:
        """Store a new offering."""
        with self.lock:
            self.offerings[offering.uuid] = offering

    def add_resource(self, resource: Resource) -> None:
        """Store a new resource."""
        with self.lock:
            self.resources[resource.uuid] = resource

    def add_offering_user(self, offering_user: OfferingUser) -> None:
        """Store a new offering user."""
        with self.lock:
            self.offering_users[offering_user.uuid] = offering_user

    def expire_token(self, token: str) -> None:
        """From now on ``token`` is answered 401 "Token has expired."."""
        if token not in self.principals:
            raise ValueError("not a token of this sandbox")
        with self.lock:
            self.expired_tokens.add(token)

    # ------------------------------------------------------------------ lookups

    def offering(self, offering_uuid: str) -> Offering:
        """The offering of ``offering_uuid`` (any UUID spelling); ValueError when unknown."""
        with self.lock:
            offering = self.offerings.get(uuid_key(offering_uuid) or "")
        if offering is None:
            raise ValueError(f"no offering {offering_uuid!r} in this sandbox")
        return offering

    def find_component_usage(
        self, resource_uuid: str, component_type: str, billing_period: date
    ) -> ComponentUsage | None:
        """The component usage of a (resource, component type, billing period), if written."""
        key = (uuid_key(resource_uuid) or "", component_type, billing_period)
        with self.lock:
            return self.component_usages_by_period.get(key)

    def usage(self, resource_uuid: str, component_type: str, billing_period: str) -> Decimal | None:
        """The stored total of a (resource, component, ``YYYY-MM-01``) or None when never written."""
        row = self.find_component_usage(resource_uuid, component_type, date.fromisoformat(billing_period))
        return row.usage if row else None

    def usages_by_username(
        self, resource_uuid: str, component_type: str, billing_period: str
    ) -> dict[str, Decimal]:
        """The stored per-username usages of a (resource, component, ``YYYY-MM-01``)."""
        row = self.find_component_usage(resource_uuid, component_type, date.fromisoformat(billing_period))
        if row is None:
            return {}
        with self.lock:
            return {
                user_usage.username: user_usage.usage
                for user_usage in self.user_usages.values()
                if user_usage.component_usage_uuid == row.uuid
            }

    def dump(self) -> dict[str, Any]:
        """Every offering, resource, offering user, component usage and user usage, as plain data."""
        with self.lock:
            return {
                "offerings": [
                    {**asdict(o), "components": [asdict(c) for c in o.components.values()]}
                    for o in self.offerings.values()
                ],
                "resources": [asdict(r) for r in self.resources.values()],
                "offering_users": [asdict(u) for u in self.offering_users.values()],
                "component_usages": [asdict(u) for u in self.component_usages.values()],
                "user_usages": [asdict(u) for u in self.user_usages.values()],
            }

    def cached_listing(
        self, key: Hashable, table_size: Hashable, compute: Callable[[], list[_Row]]
    ) -> list[_Row]:
        """The rows a listing's filters select, computed once per query instead of once per page.

        Only for tables that only grow and whose rows never change in what the filters read
        (user usages and offering users: their parent, resource, period, type and username are
        fixed at creation), so the size of the table tells whether the selection is still true (with
        ``component_usage_writes`` beside it, also an order by their parent's date).
        The rows themselves are live: a page serialises their current values. Call with ``lock``.
        """
        cached = self._listings.get(key)
        if cached is not None and cached[0] == table_size:
            return cached[1]
        rows = compute()
        self._listings[key] = (table_size, rows)
        return rows

    # ------------------------------------------------------------------ clock and billing periods

    def now(self) -> datetime:
        """Wall-clock time of day on the sandbox's ``today``, in the server's time zone."""
        now = datetime.now(self.time_zone or UTC)
        return now.replace(year=self.today.year, month=self.today.month, day=self.today.day)

    def usage_date(self, requested: datetime | None) -> datetime:
        """The ``date`` a set_usage row records: 7.x ignores the requested one and writes "now"."""
        if requested is None or self.version == "7":
            return self.now()
        return requested

    def billing_period(self, usage_date: datetime) -> date:
        """The month ``usage_date`` falls in, in the server's time zone."""
        return month_start(usage_date.astimezone(self.time_zone or UTC).date())

    # ------------------------------------------------------------------ writes

    def write_component_usage(
        self,
        resource: Resource,
        item: UsageInput,
        billing_period: date,
        usage_date: datetime,
        principal: Principal,
    ) -> None:
        """Store ``item`` as the absolute total of its component for ``billing_period``."""
        self.component_usage_writes += 1
        existing = self.find_component_usage(resource.uuid, item.type, billing_period)
        if existing is None:
            row = ComponentUsage(
                uuid=new_uuid(),
                resource_uuid=resource.uuid,
                component_type=item.type,
                billing_period=billing_period,
                usage=item.amount,
                date=usage_date,
                created=self.now(),
                description=item.description,
                recurring=item.recurring,
                modified_by=principal.id,
            )
            self.component_usages[row.uuid] = row
            self.component_usages_by_period[(row.resource_uuid, row.component_type, billing_period)] = row
            return
        # `amount` is the absolute total of the period: the row is overwritten, never incremented.
        existing.usage = item.amount
        existing.date = usage_date
        existing.description = item.description
        existing.recurring = item.recurring
        existing.modified_by = principal.id

    def write_user_usage(self, component_usage: ComponentUsage, item: UserUsageInput) -> None:
        """Store (or overwrite) one username's usage of ``component_usage``."""
        key = (component_usage.uuid, item.username)
        existing = self.user_usages.get(key)
        now = self.now()
        if existing is None:
            self.user_usages[key] = UserUsage(
                uuid=new_uuid(),
                component_usage_uuid=component_usage.uuid,
                username=item.username,
                usage=item.usage,
                offering_user_uuid=item.offering_user_uuid,
                created=now,
                modified=now,
            )
            return
        existing.usage = item.usage
        existing.offering_user_uuid = item.offering_user_uuid
        existing.modified = now
