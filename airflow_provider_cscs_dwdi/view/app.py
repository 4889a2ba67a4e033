# No "from __future__ import annotations": FastAPI must resolve the closures' Annotated dependencies.
"""The billing view's FastAPI app, mounted by Airflow's api-server under :data:`URL_PREFIX`.

Every route depends on Airflow's own ``get_user`` (the JWT of the Airflow sign-in, as cookie or
Bearer header: none -> 401) and then asks the auth manager whether that user may read the
offering's DAGs (the rule of the DAG pages: not all of them -> 403; the overview leaves such an
offering out). Parameters are checked against the offerings Airflow knows before anything is
read, and nothing is read from disk on a request's behalf: the data come from the metadata DB.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from airflow_provider_cscs_dwdi.view import inputs, month_state, month_table, pages, summaries
from airflow_provider_cscs_dwdi.view.documents import Offering, RunRecord, role_of
from airflow_provider_cscs_dwdi.view.inputs import ViewInputError

URL_PREFIX = "/cscs-dwdi-billing"
STATIC = Path(__file__).parent / "static"


def _user(request: Request) -> Any:
    """Placeholder replaced by Airflow's ``get_user`` in :func:`create_app`."""
    raise HTTPException(401, "Not authenticated")


def _now() -> datetime:
    return datetime.now(UTC)


class _Data:
    """Where the routes read from: Airflow's DB by default, swapped in the benchmark."""

    def offerings(self) -> dict[str, Offering]:
        from airflow.utils.session import create_session

        from airflow_provider_cscs_dwdi.view.source import list_offerings

        with create_session() as session:
            return list_offerings(session)

    def runs(self, offering: Offering) -> list[RunRecord]:
        from airflow.utils.session import create_session

        from airflow_provider_cscs_dwdi.view.source import runs_of

        with create_session() as session:
            return runs_of(session, offering)


def _may_read(user: Any, offering: Offering) -> bool:
    """The user may read every DAG of the offering (auth manager, as the DAG pages ask)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.models.dag import DagModel

    manager = get_auth_manager()
    return all(
        manager.is_authorized_dag(
            method="GET", details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)), user=user
        )
        for dag_id in offering.dag_ids.values()
    )


def create_app(
    data: _Data | None = None,
    user_dependency: Callable[..., Any] | None = None,
    authorize: Callable[[Any, Offering], bool] | None = None,
) -> FastAPI:
    """The app; tests and the benchmark may pass their own data source, user and authorization."""
    if user_dependency is None:
        from airflow.api_fastapi.core_api.security import get_user

        user_dependency = get_user
    source = data or _Data()
    allowed = authorize or _may_read
    app = FastAPI(title="CSCS DWDI billing view", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    User = Annotated[Any, Depends(user_dependency)]

    @app.exception_handler(ViewInputError)
    def _refused(request: Request, error: ViewInputError) -> Response:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"detail": str(error)}, status_code=error.status)
        return HTMLResponse(pages.error(_base(request), error.status, str(error)), status_code=error.status)

    def _offering(user: Any, slug: str) -> Offering:
        inputs.check_slug(slug)
        found = source.offerings().get(slug)
        if found is None:
            raise ViewInputError(f"offering: {slug!r} is not an offering of this Airflow", 404)
        if not allowed(user, found):
            raise ViewInputError(f"offering: you may not read the DAGs of {slug!r}", 403)
        return found

    def _overview(user: Any) -> list[dict[str, Any]]:
        current = _current()
        return [
            summaries.overview_row(item, source.runs(item), current)
            for item in source.offerings().values()
            if allowed(user, item)
        ]

    def _table(
        user: Any, slug: str, month: str, sort: str, order: str, q: str, page: int, page_size: int | None
    ) -> tuple[Offering, month_table.MonthTable]:
        item = _offering(user, slug)
        inputs.check_month(month)
        if order not in ("asc", "desc"):
            raise ViewInputError("order: must be asc or desc")
        state, rows = _rows(item, month)
        table = month_table.month_table(
            state, rows, sort=sort, descending=order == "desc", search=q, page=page, page_size=page_size
        )
        return item, table

    rows_cache: dict[tuple[Any, ...], tuple[month_state.MonthState, list[dict[str, Any]]]] = {}

    def _rows(item: Offering, month: str) -> tuple[month_state.MonthState, list[dict[str, Any]]]:
        runs = source.runs(item)
        # The rows change only with a new push of the month or the month before.
        key = (item.slug, month, tuple(sorted((r.run_id, r.at) for r in runs if r.role != "audit")))
        if key not in rows_cache:
            if len(rows_cache) > 64:
                rows_cache.clear()
            rows_cache[key] = month_table.month_rows(runs, month)
        return rows_cache[key]

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request, user: User) -> str:
        return pages.overview(_base(request), _overview(user))

    @app.get("/api/offerings")
    def overview_json(user: User) -> list[dict[str, Any]]:
        return _overview(user)

    @app.get("/dags/{dag_id}")
    def from_dag(request: Request, dag_id: str, user: User) -> Response:
        parsed = role_of(dag_id)
        if parsed is None:
            raise ViewInputError(f"dag_id: {dag_id[:60]!r} is not a DAG of this provider", 404)
        _offering(user, parsed[1])
        return RedirectResponse(f"{_base(request)}/offerings/{parsed[1]}", status_code=307)

    @app.get("/offerings/{slug}", response_class=HTMLResponse)
    def offering_page(request: Request, slug: str, user: User) -> str:
        item = _offering(user, slug)
        return pages.offering(
            _base(request), item.name, item.slug, summaries.offering_page(source.runs(item), _current())
        )

    @app.get("/api/offerings/{slug}")
    def offering_json(slug: str, user: User) -> dict[str, Any]:
        item = _offering(user, slug)
        return {
            "slug": item.slug,
            "name": item.name,
            **summaries.offering_page(source.runs(item), _current()),
        }

    @app.get("/offerings/{slug}/{month}.csv")
    def month_csv(
        slug: str, month: str, user: User, sort: str = "backend_id", order: str = "asc", q: str = ""
    ) -> Response:
        _, full = _table(user, slug, month, sort, order, q, 1, None)
        if full.unreachable:
            raise ViewInputError(f"month {month}: data unreachable: {full.unreachable}", 503)

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(month_table.table_header(full))
            for row in full.rows:
                writer.writerow(month_table.table_cells(full, row))
                if buffer.tell() > 1 << 16:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        filename = f"{slug}-{month}.csv"
        return StreamingResponse(
            lines(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @app.get("/offerings/{slug}/{month}", response_class=HTMLResponse)
    def month_page(request: Request, slug: str, month: str, user: User, query: Table) -> str:
        item, table = _table(user, slug, month, query.sort, query.order, query.q, query.page, query.page_size)
        shown = {"sort": query.sort, "order": query.order, "q": query.q, "page_size": str(query.page_size)}
        return pages.month(_base(request), item.name, item.slug, table, shown)

    @app.get("/api/offerings/{slug}/{month}")
    def month_json(slug: str, month: str, user: User, query: Table) -> dict[str, Any]:
        _, table = _table(user, slug, month, query.sort, query.order, query.q, query.page, query.page_size)
        return {
            "month": table.month,
            "unreachable": table.unreachable,
            "run_id": table.run_id,
            "header": month_table.table_header(table),
            "rows": [month_table.table_cells(table, row) for row in table.rows],
            "total_rows": table.total_rows,
            "page": table.page,
            "pages": table.pages,
        }

    @app.get("/offerings/{slug}/{month}/resources/{backend_id}", response_class=HTMLResponse)
    def resource_page(request: Request, slug: str, month: str, backend_id: str, user: User) -> str:
        item = _offering(user, slug)
        detail = _detail(item, month, backend_id)
        return pages.resource(_base(request), item.name, item.slug, detail)

    @app.get("/api/offerings/{slug}/{month}/resources/{backend_id}")
    def resource_json(slug: str, month: str, backend_id: str, user: User) -> dict[str, Any]:
        return _detail(_offering(user, slug), month, backend_id)

    @app.get("/{rest:path}", include_in_schema=False)
    def unknown(rest: str, user: User) -> Response:
        # Last route: an encoded "/" in a parameter lands here, refused without reading anything.
        raise ViewInputError(
            "no billing page at this address: offering, month (YYYY-MM) or resource malformed", 404
        )

    def _detail(item: Offering, month: str, backend_id: str) -> dict[str, Any]:
        inputs.check_month(month)
        inputs.check_backend_id(backend_id)
        detail = summaries.resource_detail(source.runs(item), month, backend_id)
        if detail is None:
            raise ViewInputError(f"resource: {backend_id!r} was not pushed for {month}", 404)
        return detail

    return app


@dataclass
class TableQuery:
    """The month table's query parameters (sorting, filter, page), shared by its HTML and JSON."""

    sort: str = "backend_id"
    order: str = "asc"
    q: str = ""
    page: int = 1
    page_size: int = 100


Table = Annotated[TableQuery, Depends()]


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _current() -> str:
    now = _now()
    return f"{now.year:04d}-{now.month:02d}"
