"""DRF page-number pagination the Waldur way: a bare JSON array plus X-Result-Count and Link."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from sandbox.waldur.api import Request
from sandbox.waldur.replies import Reply, error, json_reply
from sandbox.waldur.serialisers import restrict

_DEFAULT_PAGE_SIZE = 10
_MAX_PAGE_SIZE = 100
#: Query parameters every list route takes besides its filters.
PAGINATION_PARAMETERS = frozenset({"page", "page_size", "field"})
_Record = TypeVar("_Record")


def paginated(
    request: Request, records: Sequence[_Record], to_json: Callable[[_Record], dict[str, Any]], base_url: str
) -> Reply:
    """The requested page of ``records``; ``Link`` URLs start with ``base_url``.

    Only the records of the requested page are serialised (listings can hold thousands).
    """
    page_size = _page_size(request.query.get("page_size"))
    page_count = max(1, math.ceil(len(records) / page_size))
    page = _page_number(request.query.get("page"), page_count)
    fields = request.query.get("field")
    items = [
        restrict(to_json(record), fields) for record in records[(page - 1) * page_size : page * page_size]
    ]
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
