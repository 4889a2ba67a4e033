#!/usr/bin/env python
"""Open the closing DAG's trigger form and its details in headless Chromium, on a real api-server.

What it shows, on the installed Airflow with the example offerings file: which fields of the
trigger form Airflow marks as required (none of this provider's may be: empty means "all" or
"no"), that the **Month to close** field says which month a run triggered now closes, and what
the DAG details' "Timezone" row shows (Airflow 3.3.2: ``[core] default_timezone``, not the DAG's).

It reuses the throw-away api-server of ``check_connection_test_button.py`` (AIRFLOW_HOME in a temp
dir, SQLite, simple auth manager in all-admins mode, loopback only), serializes the DAGs with
``airflow dags reserialize``, and saves screenshots. Exit status 0 only when every expectation held.

Needs: Debian's ``chromium`` and ``pip install -e '.[browser]'``. CI runs it
(``tests/browser/test_forms_in_chromium.py``).

    .venv/bin/python scripts/check_trigger_form.py [--screenshots DIR] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_connection_test_button import AIRFLOW, CHROMIUM_ARGS, AirflowApiServer, running, say  # noqa: E402

OFFERINGS = REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml"
OPTIONAL_TITLES = ("Month to close", "Accounts", "Dry run", "Reconcile")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshots", type=Path, default=REPO_ROOT / ".screenshots" / "trigger-form", help="folder"
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO_ROOT))
    from airflow_provider_cscs_dwdi.core.config import load_config
    from airflow_provider_cscs_dwdi.core.months import closed_month
    from airflow_provider_cscs_dwdi.dag_settings import CLOSING_DAG_ID_PREFIX

    offering = load_config(OFFERINGS).offerings[0]
    dag_id = CLOSING_DAG_ID_PREFIX + offering.slug
    closes_now = closed_month(None, datetime.now(UTC), offering.billing_timezone)
    shots: Path = args.screenshots
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="cscs-dwdi-triggerform-"))
    server = AirflowApiServer(home)
    shutil.copy(REPO_ROOT / "dags" / "cscs_dwdi_usage.py", home / "dags" / "cscs_dwdi_usage.py")
    server.env["CSCS_DWDI_CONFIG"] = str(OFFERINGS)
    failures: list[str] = []
    try:
        with running(server):
            subprocess.run(
                [AIRFLOW, "dags", "reserialize"], env=server.env, capture_output=True, check=True, timeout=600
            )
            say(f"airflow: DAGs serialized; opening {dag_id}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1400})
                page.goto(f"{server.url}/dags/{dag_id}/details")
                row = page.get_by_test_id("timezone-row")
                row.wait_for(timeout=60_000)
                shown = row.inner_text().split()[-1]
                say(f"DAG details: Timezone {shown!r} (the DAG's: {offering.billing_timezone})")
                page.screenshot(path=str(shots / "dag-details.png"), full_page=True)

                page.get_by_role("button", name="Trigger").first.click()
                dialog = page.get_by_role("dialog")
                dialog.wait_for(timeout=30_000)
                dialog.locator("label", has_text="Month to close").first.wait_for(
                    state="attached", timeout=30_000
                )
                say(f"trigger dialog buttons: {dialog.get_by_role('button').all_inner_texts()}")
                # The parameters sit in a collapsed section of the dialog.
                for toggle in dialog.get_by_role("button").all():
                    if (
                        "param" in toggle.inner_text().lower()
                        and not dialog.get_by_text("Month to close", exact=True).first.is_visible()
                    ):
                        toggle.click()
                dialog.get_by_text("Month to close", exact=True).first.wait_for(timeout=30_000)
                page.screenshot(path=str(shots / "trigger-form.png"), full_page=True)
                for title in OPTIONAL_TITLES:
                    label = dialog.locator("label", has_text=title).first
                    # Chakra's required indicator: an aria-hidden "*" inside the label.
                    required = (
                        label.locator("[class*=requiredIndicator], [aria-hidden=true]", has_text="*").count()
                        > 0
                    )
                    say(
                        f"{'FAIL' if required else 'ok  '} field {title!r}: {'required' if required else 'optional'}"
                    )
                    if required:
                        failures.append(f"{title} required")
                text = dialog.inner_text()
                says_month = f"triggered now: {closes_now}" in text
                say(
                    f"{'ok  ' if says_month else 'FAIL'} the form says a run triggered now closes {closes_now}"
                )
                if not says_month:
                    failures.append("month not shown")
                browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    say(f"screenshots in {shots}")
    if failures:
        say(f"FAILED: {', '.join(failures)}")
        return 1
    say("OK: every field optional, the month to close shown")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
