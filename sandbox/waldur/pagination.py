"""DRF page-number pagination the Waldur way: a bare JSON array plus X-Result-Count and Link.

Waldur orders the usage listings by date and component type only. PostgreSQL returns rows of equal
key in no fixed order, and in a new one for each ``LIMIT/OFFSET`` query: :func:`tie_order` makes
the double do the same, reproducibly from a seed, so paging repeats some tied rows and skips others
exactly where the real server's does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Sequence
from itertools import groupby
from typing import Any, TypeVar
from urllib.parse import urlencode

from sandbox.waldur.api import Request
from sandbox.waldur.replies import Reply, error, json_reply
from sandbox.waldur.serialisers import restrict

_DEFAULT_PAGE_SIZE = 10
#: Waldur's ``max_page_size``: DRF cuts a larger ``page_size`` to it.
_MAX_PAGE_SIZE = 300
#: Query parameters every list route takes besides its filters.
PAGINATION_PARAMETERS = frozenset({"page", "page_size", "field"})
_Record = TypeVar("_Record")


def tie_order(records: Sequence[_Record], key: Callable[[_Record], Any], rng: random.Random) -> list[_Record]:
    """``records`` sorted by ``key``, each run of equal keys shuffled by ``rng`` (one query's order)."""
    ordered = sorted(records, key=key)
    shuffled: list[_Record] = []
    for _, group in groupby(ordered, key=key):
        tied = list(group)
        rng.shuffle(tied)
        shuffled += tied
    return shuffled


def query_random(seed: int, request: Request, asked: dict[Hashable, int]) -> random.Random:
    """The random order of one page request: from the seed, the query and how often it was asked.

    Not from the arrival order, so concurrent page requests get the same orders on every run.
    """
    query = tuple(sorted((name, tuple(values)) for name, values in request.query.items()))
    count = asked.get((request.path, query), 0)
    asked[(request.path, query)] = count + 1
    # Not from the query's uuids: two servers seeded alike answer alike.
    page = request.query.get("page", ["1"])[-1]
    return random.Random(f"{seed}|{request.path}|{page}|{count}")


def paginated(
    request: Request,
    records: Sequence[_Record],
    to_json: Callable[[_Record], dict[str, Any]],
    base_url: str,
    *,
    honour_fields: bool = True,
    ties: tuple[Callable[[_Record], Any], random.Random] | None = None,
) -> Reply:
    """The requested page of ``records``; ``Link`` URLs start with ``base_url``.

    Only the records of the requested page are serialised (listings can hold thousands).
    ``honour_fields=False``: ``field=`` is ignored, as Waldur 7.0.7's user-usage listing does.
    ``ties``: ``records`` are sorted by this key, and the runs of equal key the page overlaps are
    shuffled by this random order first (:func:`tie_order` of only what the page needs).
    """
    page_size = _page_size(request.query.get("page_size"))
    page_count = max(1, math.ceil(len(records) / page_size))
    page = _page_number(request.query.get("page"), page_count)
    fields = request.query.get("field") if honour_fields else None
    start, end = (page - 1) * page_size, min(page * page_size, len(records))
    if ties is not None and start < end:
        key, rng = ties
        low, high = start, end
        while low > 0 and key(records[low - 1]) == key(records[start]):
            low -= 1
        while high < len(records) and key(records[high]) == key(records[end - 1]):
            high += 1
        on_page = tie_order(records[low:high], key, rng)[start - low : end - low]
    else:
        on_page = list(records[start:end])
    items = [restrict(to_json(record), fields) for record in on_page]
    links = [("first", 1)]
    if page > 1:
        links.append(("prev", page - 1))
    if page < page_count:
        links.append(("next", page + 1))
    links.append(("last", page_count))
    link_header = ", ".join(f'<{_page_url(request, number, base_url)}>; rel="{rel}"' for rel, number in links)
    return json_reply(200, items, (("X-Result-Count", str(len(records))), ("Link", link_header)))


def _page_url(request: Request, page: int, base_url: str) -> str:
    # Like DRF: the request's own query with `page` replaced (dropped for page 1), keys sorted.
    query = {key: values for key, values in request.query.items() if key != "page"}
    if page > 1:
        query["page"] = [str(page)]
    encoded = urlencode(sorted(query.items()), doseq=True)
    return f"{base_url}{request.path}" + (f"?{encoded}" if encoded else "")


def _page_size(values: list[str] | None) -> int:
    # DRF falls back to the default page size for a missing, invalid or non-positive page_size.
    try:
        requested = int(values[-1]) if values else _DEFAULT_PAGE_SIZE
    except ValueError:
        return _DEFAULT_PAGE_SIZE
    return min(requested, _MAX_PAGE_SIZE) if requested > 0 else _DEFAULT_PAGE_SIZE


def _page_number(values: list[str] | None, page_count: int) -> int:
    try:
        page = int(values[-1]) if values else 1
    except ValueError:
        raise error(404, {"detail": "Invalid page."}) from None
    if not 1 <= page <= page_count:
        raise error(404, {"detail": "Invalid page."})
    return page
