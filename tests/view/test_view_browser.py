"""The billing view in a real browser: Debian's Chromium, driven by Playwright, against a real
``airflow api-server`` reading the database the package fixture's pipeline wrote (a close, two
daily pushes, an audit).

Signs in through Airflow's login form, opens the view from the navigation (Browse > Billing),
then each page: the month table equals the sandbox's expected totals cell by cell, each plot has
one mark per month / per daily push, the CSV download equals the table, and a restricted user
does not see the offering. With $CSCS_DWDI_VIEW_SCREENSHOTS set, the pages are saved there as PNG
(scripts/view_screenshots.sh puts them on the docs page).

Under CI=true a missing /usr/bin/chromium fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.view import ViewServer
from tests.fixtures.chromium import CHROMIUM, need_chromium
from tests.view.auth_manager import HIDDEN_SLUG_ENV
from tests.view.conftest import SLUG

PREFIX = "/cscs-dwdi-billing"
USERS = {"admin": ("admin", "admin-browser-pw"), "restricted": ("viewer", "restricted-browser-pw")}


@pytest.fixture(scope="module")
def server(pushed: dict[str, Any]) -> Iterator[ViewServer]:
    from airflow.configuration import conf

    home = Path(os.environ["AIRFLOW_HOME"])
    with ViewServer(
        home,
        database_url=conf.get("database", "sql_alchemy_conn"),
        users=USERS,
        auth_manager="auth_manager.RestrictedAuthManager",
        environment={HIDDEN_SLUG_ENV: SLUG},
        python_path=[Path(__file__).parent],
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def sign_in(browser: Any, server: ViewServer, user: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USERS[user][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/", timeout=60_000)
    return page


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CSCS_DWDI_VIEW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


# Frappe Charts first draws an axis chart with every value 0 and puts the data in 700 ms later:
# a plot counts as drawn once its y axis reaches the largest value of its data (and, for bars,
# a bar has a height), so a check or a screenshot never sees the empty first frame.
PLOTTED = """(id) => {
  const figure = document.getElementById(id);
  const spec = JSON.parse(figure.querySelector('script.chart-data').textContent);
  const largest = Math.max(0, ...spec.data.datasets.flatMap(d => d.values));
  const ticks = Array.from(figure.querySelectorAll('g.y.axis text'))
    .map(t => parseFloat(t.textContent.replace(/,/g, ''))).filter(v => !isNaN(v));
  const bars = Array.from(figure.querySelectorAll('rect.bar'));
  const barDrawn = spec.type !== 'bar' || bars.some(b => parseFloat(b.getAttribute('height')) > 0);
  return largest > 0 && ticks.length > 0 && Math.max(...ticks) >= largest && barDrawn;
}"""


def table_rows(page: Any, selector: str) -> list[list[str]]:
    return list(
        page.evaluate(
            """(selector) => Array.from(document.querySelectorAll(selector + ' tr')).map(
                 tr => Array.from(tr.querySelectorAll('th, td')).map(cell => cell.textContent.trim()))""",
            selector,
        )
    )


def test_the_billing_view_in_chromium(browser: Any, server: ViewServer, pushed: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    stack, item, month = pushed["stack"], pushed["item"], pushed["month"]
    page = sign_in(browser, server, "admin")

    # The navigation entry: Browse > Billing opens the view inside Airflow's UI.
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Billing").click()
    page.wait_for_url("**/plugin/cscs-dwdi-billing**")
    frame = page.frame_locator("iframe")
    frame.locator(f"tr[data-offering='{SLUG}']").wait_for()
    assert frame.locator("h1").inner_text() == "Billing"
    shot(page, "overview")

    # The offering page: one bar per month per component, one point per daily push.
    frame.locator(f"tr[data-offering='{SLUG}'] a.offering").click()
    frame.locator("figure#monthly-chart[data-drawn='true']").wait_for()
    components = item.config.components
    # expect() polls: Frappe Charts redraws once after its first paint.
    for index in range(len(components)):
        expect(frame.locator(f"#monthly-chart g.dataset-{index} rect.bar")).to_have_count(12)
        expect(frame.locator(f"#to-date-chart g.dataset-{index} circle")).to_have_count(
            len(pushed["daily_runs"])
        )
    page.goto(f"{server.url}{PREFIX}/offerings/{SLUG}")
    for chart in ("monthly-chart", "to-date-chart"):
        page.wait_for_function(PLOTTED, arg=chart, timeout=15_000)
    shot(page, "offering")

    # The month table equals the sandbox's own expected totals, cell by cell.
    page.locator(f"#months tr[data-month='{month}'] a").click()
    page.locator("#resources").wait_for()
    shot(page, "month")
    rows = table_rows(page, "#resources")
    # The current sort column's header carries an arrow (▲/▼) after its name.
    header, body = [cell.rstrip(" ▲▼") for cell in rows[0]], rows[1:]
    assert header[:2] == ["backend ID", "Waldur resource"]
    expected = stack.expected(item, month)
    assert sorted(row[0] for row in body) == sorted(expected)
    for row in body:
        want = expected[row[0]]["total"]
        for index, component in enumerate(components):
            assert Decimal(row[2 + index]) == Decimal(want[component.type] or 0), (row[0], component.type)
        assert row[1] == item.resources[row[0]]

    # The CSV download equals the table.
    with page.expect_download() as download:
        page.locator("a#csv").click()
    text = Path(download.value.path()).read_text()
    assert list(csv.reader(io.StringIO(text))) == [header, *body]

    # Sorting by the first component, descending, on the server.
    page.locator(f"a.sort[data-sort='{components[0].type}']").click()
    page.locator(f"a.sort[data-sort='{components[0].type}']").click()
    sorted_rows = table_rows(page, "#resources")[1:]
    values = [Decimal(row[2]) for row in sorted_rows]
    assert values == sorted(values, reverse=True)

    # One resource: its users and the history of what the pushes wrote.
    account = sorted(expected)[0]
    page.locator(f"tr[data-backend-id='{account}'] a").first.click()
    page.locator("#history").wait_for()
    shot(page, "resource")
    users = {row[0] for row in table_rows(page, "#users")[1:]}
    assert users == set(expected[account]["users"])
    history = table_rows(page, "#history")[1:]
    assert {row[1] for row in history} == {pushed["daily_runs"][0]}

    # The session's JWT (the cookie Airflow's login set) and the passwords appear in no page and
    # not in the api-server's log.
    (jwt,) = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "_token"]
    secrets = [
        jwt,
        USERS["admin"][1],
        stack.waldur_connection()["password"],
        stack.dwdi_connection()["password"],
    ]
    for path in ("/", f"/offerings/{SLUG}", f"/offerings/{SLUG}/{month}", f"/offerings/{SLUG}/{month}.csv"):
        text = page.request.get(f"{server.url}{PREFIX}{path}").text()
        assert not [secret for secret in secrets if secret in text], path
    log = server.log_path.read_text(errors="replace")
    assert not [secret for secret in secrets if secret in log]

    # From the offering's DAG page: its Billing tab opens the offering's months.
    page.goto(f"{server.url}/dags/cscs_dwdi_usage_{SLUG}")
    page.get_by_text("Billing", exact=True).click()
    expect(page.frame_locator("iframe").locator("h1")).to_have_text(f"{item.config.name}: months")
    page.context.close()


def test_a_restricted_user_does_not_see_the_offering(browser: Any, server: ViewServer) -> None:
    page = sign_in(browser, server, "restricted")
    page.goto(f"{server.url}{PREFIX}/")
    assert page.locator(f"tr[data-offering='{SLUG}']").count() == 0
    reply = page.goto(f"{server.url}{PREFIX}/offerings/{SLUG}")
    assert reply is not None
    assert reply.status == 403
    page.context.close()
