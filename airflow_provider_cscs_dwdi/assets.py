"""The Asset of each offering's billed usage, which downstream DAGs (invoicing) are scheduled on.

One Asset per offering and usage kind (an offering bills one kind):

- name ``cscs_dwdi_usage_<slug>`` (the offering's slug, as in its DAG ids);
- URI ``cscs-dwdi://<offering_uuid>/<usage_kind>`` (the Waldur offering UUID without dashes;
  ``compute``, ``storage`` or ``inference``): no host name, no credential.

A successful push that is not a dry run adds one event to it, whose extra is
:func:`core.billed_totals.billing_event_extra` (month, usage kind, counts, ``closed``, checksum).
The push declares an :class:`~airflow.sdk.AssetAlias` as its outlet, not the Asset itself:
Airflow emits an event for every Asset a successful task declares, dry runs included, whereas an
alias emits only the events the task adds to it.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

from airflow_provider_cscs_dwdi.core.config import OfferingConfig

ASSET_NAME_PREFIX = "cscs_dwdi_usage_"
ASSET_URI_SCHEME = "cscs-dwdi"
ALIAS_SUFFIX = "__pushes"


def billing_asset(offering: OfferingConfig) -> Asset:
    """The Asset a successful push of ``offering`` emits an event on."""
    return Asset(
        name=ASSET_NAME_PREFIX + offering.slug,
        uri=f"{ASSET_URI_SCHEME}://{offering.offering_uuid}/{offering.usage_kind.value}",
        group="cscs-dwdi",
    )


def billing_alias(asset: Asset) -> AssetAlias:
    """The alias the push declares as its outlet and adds the asset's event to."""
    return AssetAlias(name=asset.name + ALIAS_SUFFIX, group="cscs-dwdi")
