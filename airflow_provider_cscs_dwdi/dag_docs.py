"""The DAG pages: the Markdown ``doc_md`` each DAG of an offering shows in Airflow's UI.

Prose only: what a DAG does with the offering's settings, its tasks, schedule and trigger form.
"""

from __future__ import annotations

import pendulum

from airflow_provider_cscs_dwdi.core.config import OfferingConfig
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.dag_settings import CLOSING_DAG_ID_PREFIX, DAG_ID_PREFIX


def _kind_summary(offering: OfferingConfig) -> str:
    """The first paragraph of the DAG doc: what this offering's kind of usage is and how it is billed."""
    waldur = f"the Waldur offering `{offering.offering_uuid}`"
    if offering.usage_kind is UsageKind.STORAGE:
        return (
            f"Reports the storage that the CSCS data warehouse (DWDI) recorded for the resources of {waldur} "
            "to Waldur: one level per project path and month (a level, not a sum; a path DWDI does not "
            'return is not written and is listed as "no storage data"). No per-user usage.'
        )
    if offering.usage_kind is UsageKind.INFERENCE:
        return (
            f"Reports the LLM inference cost that the CSCS data warehouse (DWDI) priced for the resources of "
            f"{waldur} to Waldur, matched by Waldur resource UUID; several entries of a resource are summed, "
            "a resource without entries costs 0.00. No per-user usage."
        )
    return (
        f"Reports the compute usage that the CSCS data warehouse (DWDI) recorded for the resources of "
        f"{waldur}, per account and per user, to Waldur."
    )


def _kind_rows(offering: OfferingConfig) -> str:
    """The settings-table rows of the offering's kind (each ends with a newline)."""
    if offering.usage_kind is UsageKind.COMPUTE:
        return f"| Clusters | {', '.join(offering.clusters) if offering.clusters else 'all'} |\n"
    if offering.usage_kind is UsageKind.INFERENCE:
        return "| DWDI key | `waldurResourceUuid` = the Waldur resource UUID (dashed or not) |\n"
    storage = offering.storage
    if storage is None:  # the configuration requires it for storage offerings
        return ""
    mapped = ", ".join(
        f"`{backend_id}` -> `{path}`" for backend_id, path in sorted(storage.path_mapping.items())
    )
    fallback = f"`{storage.path_template}`" if storage.path_template else "the backend ID itself"
    return (
        f"| Filesystem / data type | `{storage.filesystem}` / `{storage.data_type}` |\n"
        f"| Paths | {f'mapped: {mapped}; ' if mapped else ''}otherwise {fallback} |\n"
    )


def usage_doc_md(offering: OfferingConfig) -> str:
    components = ", ".join(
        f"`{component.type}` (DWDI `{component.dwdi_field}` x {component.unit_factor} "
        f"{component.measured_unit})"
        for component in offering.components
    )
    closing_dag_id = CLOSING_DAG_ID_PREFIX + offering.slug
    return f"""\
# CSCS-DWDI usage -> Waldur: {offering.name}

{_kind_summary(offering)}

| Setting | Value |
|---|---|
| Usage kind | `{offering.usage_kind.value}` |
| Components | {components} |
| Billing time zone | `{offering.billing_timezone}` |
{_kind_rows(offering)}| Bad DWDI values | `{offering.bad_value_policy}` |
| Connections | DWDI `{offering.dwdi_conn_id}`, Waldur `{offering.waldur_conn_id}` |

## Tasks
1. `list_backend_ids`: the backend IDs (DWDI accounts) of the offering's resources in Waldur.
2. `billing_months`: the months this run reports and the accounts to fetch.
3. `fetch_usage` (one per month): asks DWDI and archives its raw responses.
4. `aggregate_usage` (one per month): exact totals per resource (compute: and per user); a bad
   value is never turned into zero.
5. `push_to_waldur` (one per month, one at a time): writes what differs, idempotently.

## Schedule
`{offering.schedule}`: each run reports the month to date. During the first
{offering.reopen_previous_month_days} day(s) of a month it also re-reports the previous month
(late DWDI data), provided the Waldur server honours the usage `date`.
{_time_zone_note(offering)}

## Trigger form
- **month**: `YYYY-MM` to report alone; empty = from the run date.
- **accounts**: only these accounts; empty = all of the offering's resources.
- **dry_run**: compute and log the changes without writing them.
- **reconcile**: let the push also reconcile what Waldur holds with DWDI (see PushToWaldurOperator).

## Backfill
Past months are backfilled with the offering's monthly closing DAG `{closing_dag_id}`: one run
per month, each reporting exactly its month. A daily backfill here would make one run per day and
rewrite, on the first days of a month, the month before the range. To recompute one month from
this DAG, trigger it with **month** set.
"""


def audit_doc_md(offering: OfferingConfig) -> str:
    schedule = offering.audit.schedule or "none (trigger by hand)"
    return f"""\
# CSCS-DWDI drift audit: {offering.name}

Recomputes the last {offering.audit.months} closed month(s) from DWDI and compares them with what
the Waldur offering `{offering.offering_uuid}` holds, per resource, component and user. Writes
nothing unless triggered with **repair_month**. Any difference fails the run; the table of
differences (resource, component, user, DWDI, Waldur, delta, likely cause) is in the log of
`audit_waldur` and in its XCom.

## Schedule
{schedule}

## Tasks
1. `list_backend_ids`, 2. `audit_months` (the closed months), 3. `fetch_usage` and
4. `aggregate_usage` (one per month, as in the usage DAG), 5. `audit_waldur`: compare, repair.

## Trigger form
- **repair_month**: `YYYY-MM`, a closed month: write its corrections through the push, then
  audit it again. Empty = audit only.
- **dry_run**: with **repair_month**, log what the repair would write without writing.
"""


def closing_doc_md(offering: OfferingConfig) -> str:
    dag_id = CLOSING_DAG_ID_PREFIX + offering.slug
    january = pendulum.datetime(2026, 1, 1, tz=offering.billing_timezone).isoformat()
    march = pendulum.datetime(2026, 3, 1, tz=offering.billing_timezone).isoformat()
    return f"""\
# CSCS-DWDI monthly closing -> Waldur: {offering.name}

The same tasks as `{DAG_ID_PREFIX + offering.slug}`, but each run reports exactly one billing
month: the month asked for in its trigger form, else the month its data interval starts in, in
`{offering.billing_timezone}`. The logical date of a scheduled run is 00:00 on the 1st of its
month; the run starts once the month has ended. The log of `billing_months` says which month a
run closes and why.

## Backfill
One run per month. January to March 2026 (three runs, nothing before or after):

```
airflow backfill create --dag-id {dag_id} \\
    --from-date {january} --to-date {march} --reprocess-behavior completed
```

Give the dates with the billing time zone's offset as above: a date without one is read as UTC,
which in a zone east of UTC moves the first month out of the range. Backfill runs wait while this
DAG is paused. Use a PostgreSQL or MySQL metadata database: on SQLite, Airflow refuses backfills
whenever the database is busy. Months other than the current one reach Waldur only when the
server honours the usage `date` (Waldur 8.x).

## Schedule
Unpaused, it also closes each month at 00:00 on the 1st, as the daily DAG's midnight run does;
writes are absolute and idempotent, so the second of the two writes nothing new.
{_time_zone_note(offering)}

## Trigger form
- **month**: `YYYY-MM` of a month that has ended: the run closes it (a month that has not ended
  fails the run, saying so). Empty: the month of the run's data interval, which for a manual run
  is the last month that ended before its logical date (a logical date in October closes
  September).
- **accounts**, **dry_run**, **reconcile**: as in the daily DAG.
"""


def _time_zone_note(offering: OfferingConfig) -> str:
    """Where the DAG's time zone shows, and why the DAG details say otherwise."""
    return f"""
Times are in `{offering.billing_timezone}`, the DAG's time zone. The "Timezone" row of the DAG
details shows Airflow's `[core] default_timezone` (UTC unless set) whatever the DAG's: the
schedule runs in `{offering.billing_timezone}` all the same. Setting `default_timezone` to it
makes the row match, but also changes how Airflow reads dates given without an offset. The zone
the UI shows dates in is chosen with the time zone button of its navigation bar (it shows the
offset, e.g. +00:00)."""
