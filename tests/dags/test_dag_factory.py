"""The DAG factory: one well-formed DAG per configured offering, and loud failures for bad files."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.dag_factory import CONFIG_ENV_VAR, build_dags, load_dags_from_env

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
EXAMPLE = DAGS_FOLDER / "cscs_dwdi_offerings.example.yaml"
DAG_IDS = [
    "cscs_dwdi_usage_cscs_hpc_daint",
    "cscs_dwdi_usage_alps_gpu",
    "cscs_dwdi_usage_capstor_storage",
    "cscs_dwdi_usage_llm_inference",
]
CLOSING_DAG_IDS = [dag_id.replace("cscs_dwdi_usage_", "cscs_dwdi_close_") for dag_id in DAG_IDS]
AUDIT_DAG_IDS = [dag_id.replace("cscs_dwdi_usage_", "cscs_dwdi_audit_") for dag_id in DAG_IDS]
ALL_DAG_IDS = [
    dag_id for triple in zip(DAG_IDS, CLOSING_DAG_IDS, AUDIT_DAG_IDS, strict=True) for dag_id in triple
]
# dags/cscs_dwdi_invoicing_example.py: the example downstream DAGs, from the same offerings file.
INVOICING_DAG_IDS = [dag_id.replace("cscs_dwdi_usage_", "cscs_dwdi_invoicing_") for dag_id in DAG_IDS]
DAG_FILES = ("cscs_dwdi_invoicing_example.py", "cscs_dwdi_usage.py")
AIRFLOW_CLI = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def dags() -> dict:
    return build_dags(load_config(EXAMPLE))


def test_a_daily_a_closing_and_an_audit_dag_per_offering_in_configuration_order(dags: dict) -> None:
    assert list(dags) == ALL_DAG_IDS
    assert [dag.dag_id for dag in dags.values()] == ALL_DAG_IDS


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_runs_daily_one_at_a_time_without_catchup(dags: dict, dag_id: str) -> None:
    dag = dags[dag_id]

    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.render_template_as_native_obj is True
    assert dag.timezone.name == "Europe/Zurich"  # months close at midnight in the billing time zone
    assert {"cscs-dwdi", "waldur", "usage"} <= set(dag.tags)


def test_offering_tags_and_documentation(dags: dict) -> None:
    alps = dags["cscs_dwdi_usage_alps_gpu"]

    assert {"alps_gpu", "alps", "gpu"} <= set(alps.tags)
    assert "CSCS GPU Alps" in alps.doc_md
    assert "5e3f1d2c7b8a49c6a1d2e3f405162738" in alps.doc_md
    assert "monthly closing DAG `cscs_dwdi_close_alps_gpu`" in alps.doc_md
    assert (
        "airflow backfill create --dag-id cscs_dwdi_close_alps_gpu" in dags["cscs_dwdi_close_alps_gpu"].doc_md
    )
    assert "`gpuNodeHours` (DWDI `gpuHours` x 0.25 GPU-node-hours)" in alps.doc_md


def test_storage_and_inference_settings_reach_the_fetch_and_the_documentation(dags: dict) -> None:
    storage = dags["cscs_dwdi_usage_capstor_storage"]
    inference = dags["cscs_dwdi_usage_llm_inference"]

    fetch = storage.get_task("fetch_usage").partial_kwargs
    assert fetch["usage_kind"] == "storage"
    assert fetch["storage"] == {
        "filesystem": "capstor",
        "data_type": "store",
        "path_mapping": {"legacy_climate": "/capstor/store/cscs/userlab/climate-2019"},
        "path_template": "/capstor/store/cscs/{backend_id}",
    }
    assert fetch["backend_ids"] is None
    assert "| Filesystem / data type | `capstor` / `store` |" in storage.doc_md
    assert "`storage_space` (DWDI `spaceUsed` x 1E-12 TB)" in storage.doc_md
    assert "`/capstor/store/cscs/{backend_id}`" in storage.doc_md
    assert "no storage data" in storage.doc_md

    fetch = inference.get_task("fetch_usage").partial_kwargs
    assert (fetch["usage_kind"], fetch["storage"]) == ("inference", None)
    # Inference is keyed by resource UUID: the fetch reads list_backend_ids' document itself.
    assert fetch["backend_ids"].operator.task_id == "list_backend_ids"
    assert "list_backend_ids" in inference.get_task("fetch_usage").upstream_task_ids
    assert "`token_cost` (DWDI `totalCost` x 1 CHF)" in inference.doc_md
    assert "Waldur resource UUID" in inference.doc_md


def test_trigger_form_params(dags: dict) -> None:
    params = dags["cscs_dwdi_usage_cscs_hpc_daint"].params

    assert set(params) == {"month", "accounts", "dry_run", "reconcile"}
    schemas = {name: params.get_param(name).schema for name in params}
    assert all(schema.get("title") and params.get_param(name).description for name, schema in schemas.items())
    assert schemas["month"]["type"] == ["null", "string"]
    # Optional in Airflow's trigger form: it requires every typed field whose type excludes null.
    assert schemas["accounts"]["type"] == ["null", "array"]
    assert schemas["dry_run"]["type"] == schemas["reconcile"]["type"] == ["null", "boolean"]
    assert params.validate() == {"month": None, "accounts": [], "dry_run": False, "reconcile": False}


def test_no_trigger_form_field_of_any_dag_is_required(dags: dict) -> None:
    # Airflow 3.3.2's trigger form marks a field required when its schema has a type that excludes
    # "null" (the UI's isRequired rule); every field of these forms may stay empty.
    for dag in dags.values():
        for name in dag.params:
            kind = dag.params.get_param(name).schema.get("type")
            assert isinstance(kind, list), (dag.dag_id, name, kind)
            assert "null" in kind, (dag.dag_id, name, kind)
        assert dag.params.validate() is not None  # the defaults validate: an empty form triggers


@pytest.mark.parametrize("month", ["2026-11", None])
def test_month_param_accepts_a_month_or_nothing(dags: dict, month: str | None) -> None:
    param = dags["cscs_dwdi_usage_cscs_hpc_daint"].params.get_param("month")

    assert param.resolve(value=month) == month


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "November", "2026-11-01"])
def test_month_param_refuses_anything_else(dags: dict, month: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    param = dags["cscs_dwdi_usage_cscs_hpc_daint"].params.get_param("month")

    with pytest.raises(ParamValidationError):
        param.resolve(value=month)


def test_task_chain(dags: dict) -> None:
    dag = dags["cscs_dwdi_usage_alps_gpu"]
    chain = [
        "list_backend_ids",
        "billing_months",
        "fetch_usage",
        "aggregate_usage",
        "push_to_waldur",
        "approve_held_values",
    ]

    assert set(dag.task_ids) == set(chain)
    for upstream, downstream in itertools.pairwise(chain):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}, upstream
    assert dag.get_task("approve_held_values").downstream_task_ids == set()


def test_month_tasks_are_mapped_and_waldur_is_written_one_task_at_a_time(dags: dict) -> None:
    dag = dags["cscs_dwdi_usage_alps_gpu"]

    mapped = {task_id for task_id in dag.task_ids if dag.get_task(task_id).is_mapped}
    assert mapped == {"fetch_usage", "aggregate_usage", "push_to_waldur", "approve_held_values"}
    assert dag.get_task("push_to_waldur").max_active_tis_per_dag == 1
    assert dag.get_task("approve_held_values").max_active_tis_per_dag == 1


def test_offering_settings_reach_the_tasks(dags: dict) -> None:
    dag = dags["cscs_dwdi_usage_alps_gpu"]

    fetch = dag.get_task("fetch_usage").partial_kwargs
    assert (fetch["dwdi_conn_id"], fetch["clusters"], fetch["billing_timezone"]) == (
        "cscs_dwdi_default",
        ["alps", "clariden"],
        "Europe/Zurich",
    )
    assert (fetch["accounts"].operator.task_id, fetch["accounts"].key) == ("billing_months", "accounts")
    aggregate = dag.get_task("aggregate_usage").partial_kwargs
    assert (aggregate["bad_value_policy"], aggregate["retries"]) == ("skip", 0)
    assert set(aggregate["backend_components"]) == {"gpuNodeHours", "nodeHours"}
    push = dag.get_task("push_to_waldur").partial_kwargs
    assert push["offering_uuid"] == "5e3f1d2c7b8a49c6a1d2e3f405162738"
    assert (push["dry_run"], push["reconcile"]) == ("{{ params.dry_run }}", "{{ params.reconcile }}")
    plan = dag.get_task("billing_months")
    assert (plan.reopen_previous_month_days, plan.month) == (5, "{{ params.month }}")


@pytest.mark.parametrize("dag_id", CLOSING_DAG_IDS)
def test_closing_dag_has_one_billing_month_per_data_interval(dags: dict, dag_id: str) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dags[dag_id]

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 1 * *"
    assert dag.timezone.name == "Europe/Zurich"  # months begin at midnight in the billing zone
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert "monthly" in dag.tags
    assert set(dag.params) == {"month", "accounts", "dry_run", "reconcile"}
    assert dag.params.validate()["month"] is None  # empty: the data interval's month


def test_closing_dag_reuses_the_task_chain_and_reports_only_its_month(dags: dict) -> None:
    daily, closing = dags["cscs_dwdi_usage_alps_gpu"], dags["cscs_dwdi_close_alps_gpu"]

    assert set(closing.task_ids) == set(daily.task_ids)
    for task_id in closing.task_ids:
        assert closing.get_task(task_id).downstream_task_ids == daily.get_task(task_id).downstream_task_ids
    plan = closing.get_task("billing_months")
    assert plan.reopen_previous_month_days == 0  # no reopen window: nothing outside the range
    assert plan.month == "{{ month_to_close(task, params.month, data_interval_start, dag_run.run_after) }}"
    assert closing.get_task("push_to_waldur").max_active_tis_per_dag == 1
    push = closing.get_task("push_to_waldur").partial_kwargs
    assert push["dry_run"] == "{{ params.dry_run }}"


@pytest.mark.parametrize(
    ("interval_start", "expected"),
    [
        (pendulum.datetime(2026, 1, 1, tz="Europe/Zurich"), "2026-01"),
        (pendulum.datetime(2026, 12, 1, tz="Europe/Zurich"), "2026-12"),
        (None, "2026-02"),  # manual run without a logical date: the last month that has ended
    ],
)
def test_closing_dag_renders_the_month_of_its_data_interval(
    dags: dict, interval_start: pendulum.DateTime | None, expected: str
) -> None:
    from types import SimpleNamespace

    closing = dags["cscs_dwdi_close_alps_gpu"]
    plan = closing.get_task("billing_months")
    context = {
        "data_interval_start": interval_start,
        "dag_run": SimpleNamespace(run_after=pendulum.datetime(2026, 3, 4, 9, tz="UTC")),
        "params": {"month": None},
        "task": plan,
    }

    rendered = plan.render_template(plan.month, context, closing.get_template_env())

    assert rendered == expected


def _render_closing_month(dags: dict, asked: str | None) -> str:
    from types import SimpleNamespace

    closing = dags["cscs_dwdi_close_alps_gpu"]
    plan = closing.get_task("billing_months")
    context = {
        # A manual run whose logical date is in October: its interval is September.
        "data_interval_start": pendulum.datetime(2025, 9, 1, tz="Europe/Zurich"),
        "dag_run": SimpleNamespace(run_after=pendulum.datetime(2025, 10, 15, 9, tz="UTC")),
        "params": {"month": asked},
        "task": plan,
    }
    return str(plan.render_template(plan.month, context, closing.get_template_env()))


def test_closing_dag_closes_the_month_asked_for_and_logs_why(
    dags: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    # The task's logger writes the task log (stdout outside a worker).
    assert _render_closing_month(dags, "2025-03") == "2025-03"
    assert "Closing 2025-03: asked for in the trigger form (month)" in capsys.readouterr().out

    assert _render_closing_month(dags, None) == "2025-09"
    logged = capsys.readouterr().out
    assert "Closing 2025-09: the month of the run's data interval" in logged
    assert "no month was asked" in logged


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("2025-13", r"month to close: month must be YYYY-MM \(for example 2026-11\), got '2025-13'"),
        ("9999-01", r"month to close: 9999-01 has not ended yet in Europe/Zurich \(the current month is "),
    ],
)
def test_closing_dag_refuses_a_month_it_cannot_close(dags: dict, asked: str, message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=message):
        _render_closing_month(dags, asked)


def test_the_current_month_cannot_be_closed_yet(dags: dict) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_cscs_dwdi.core.months import current_month

    current = current_month("Europe/Zurich")
    with pytest.raises(AirflowFailException, match=f"{current} has not ended yet"):
        _render_closing_month(dags, current)


def test_closing_form_says_which_month_a_run_triggered_now_closes(dags: dict) -> None:
    from datetime import UTC, datetime

    from airflow_provider_cscs_dwdi.core.months import closed_month

    param = dags["cscs_dwdi_close_alps_gpu"].params.get_param("month")
    # Built just before: the month may have turned in between.
    now = datetime.now(UTC)
    candidates = {
        closed_month(None, now, "Europe/Zurich"),
        closed_month(None, now - timedelta(minutes=5), "Europe/Zurich"),
    }

    assert param.schema["type"] == ["null", "string"]
    assert any(f"(triggered now: {month})" in param.description for month in candidates)
    assert "**month**" in dags["cscs_dwdi_close_alps_gpu"].doc_md


@pytest.mark.parametrize("dag_id", [*CLOSING_DAG_IDS, "cscs_dwdi_usage_alps_gpu"])
def test_the_serialized_dag_keeps_the_billing_time_zone(dags: dict, dag_id: str) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.to_dict(dags[dag_id])
    restored = DagSerialization.from_dict(serialized)

    assert serialized["dag"]["timezone"] == "Europe/Zurich"
    assert str(restored.timezone) == "Europe/Zurich"
    assert str(restored.timetable.serialize()["timezone"]) == "Europe/Zurich"
    # The UI's DAG details show [core] default_timezone instead: the page says so.
    assert "`[core] default_timezone`" in restored.doc_md


def test_unusable_schedule_is_a_configuration_error(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["offerings"][1]["schedule"] = "every day at noon"
    path = tmp_path / "offerings.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(
        ConfigurationError,
        match=r"offering 'CSCS GPU Alps' \(#2\): schedule: 'every day at noon' is not a schedule",
    ):
        build_dags(load_config(path))


def test_environment_variable_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "mine.yaml"
    shutil.copy(EXAMPLE, copy)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(copy))

    assert list(load_dags_from_env(default_config=tmp_path / "unused.yaml")) == ALL_DAG_IDS


def test_unset_environment_variable_without_default_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)

    with pytest.raises(ConfigurationError, match=rf"^{CONFIG_ENV_VAR} is not set"):
        load_dags_from_env()


def test_missing_file_is_an_error_saying_how_to_set_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "typo.yaml"))

    with pytest.raises(ConfigurationError) as raised:
        load_dags_from_env(default_config=EXAMPLE)  # a named file never falls back

    message = str(raised.value)
    assert message.startswith(f"offerings configuration file not found: {tmp_path / 'typo.yaml'} ")
    assert f"Set {CONFIG_ENV_VAR} to the path of your offerings YAML file" in message
    assert "python -m airflow_provider_cscs_dwdi init DIR" in message


def broken_config(tmp_path: Path) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["offerings"][1]["billing_timezone"] = "Mars/Base"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_dag_bag_shows_a_broken_configuration_as_an_import_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv(CONFIG_ENV_VAR, str(broken_config(tmp_path)))

    bag = DagBag(dag_folder=str(DAGS_FOLDER))

    assert bag.dags == {}  # not even the valid offering: no half-built configuration
    assert sorted(Path(path).name for path in bag.import_errors) == list(DAG_FILES)
    for error in bag.import_errors.values():
        assert "offering 'CSCS GPU Alps' (#2): billing_timezone: unknown time zone 'Mars/Base'" in error


def dag_file_copy(folder: Path, *offerings_files: str) -> Path:
    """A dags folder holding the DAG file and the example under each of ``offerings_files``."""
    folder.mkdir(exist_ok=True)
    shutil.copy(DAGS_FOLDER / "cscs_dwdi_usage.py", folder)
    for name in offerings_files:
        shutil.copy(EXAMPLE, folder / name)
    return folder


def test_dag_bag_without_an_offerings_file_says_where_it_looked_and_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    # The example next to the DAG file is not a fallback: its offerings are not the site's.
    folder = dag_file_copy(tmp_path / "dags", "cscs_dwdi_offerings.example.yaml")

    bag = DagBag(dag_folder=str(folder))

    assert bag.dags == {}
    (error,) = bag.import_errors.values()
    assert f"{CONFIG_ENV_VAR} is not set and {folder / 'cscs_dwdi_offerings.yaml'} does not exist" in error
    assert f"export {CONFIG_ENV_VAR}=" in error
    assert "python -m airflow_provider_cscs_dwdi init DIR" in error


def test_dag_bag_reads_the_offerings_file_next_to_the_dag_file_without_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    folder = dag_file_copy(tmp_path / "dags", "cscs_dwdi_offerings.yaml")

    bag = DagBag(dag_folder=str(folder))

    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted(ALL_DAG_IDS)


def run_airflow(*arguments: str, config: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        CONFIG_ENV_VAR: str(config),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [AIRFLOW_CLI, *arguments], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def json_rows(stdout: str) -> list[dict]:
    """The JSON table of ``--output json``; Airflow logs to stdout too, on lines of their own."""
    (table,) = [line for line in stdout.splitlines() if line.startswith("[")]
    return json.loads(table)


@pytest.fixture(scope="module")
def serialized_example(airflow_db: None) -> None:
    """The example's DAGs written to the metadata DB, as the dag-processor does."""
    serialized = run_airflow("dags", "reserialize", config=EXAMPLE)
    assert serialized.returncode == 0, serialized.stderr


@pytest.mark.airflow
@pytest.mark.usefixtures("serialized_example")
def test_airflow_dags_list_shows_the_three_dags_of_every_offering() -> None:
    listed = run_airflow("dags", "list", "--output", "json", config=EXAMPLE)

    assert listed.returncode == 0, listed.stderr
    # The session's database also holds the DAGs of other tests' offerings (dag.test() writes them):
    # every DAG of the example's offerings, and only those, named cscs_dwdi_<role>_<slug>.
    slugs = {dag_id.removeprefix("cscs_dwdi_usage_") for dag_id in DAG_IDS}
    listed_ids = (row["dag_id"] for row in json_rows(listed.stdout))
    dag_ids = sorted(dag_id for dag_id in listed_ids if dag_id.split("_", 3)[-1] in slugs)
    assert dag_ids == sorted(ALL_DAG_IDS + INVOICING_DAG_IDS)


@pytest.mark.airflow
@pytest.mark.usefixtures("serialized_example")
def test_documented_backfill_creates_one_run_per_month(dags: dict) -> None:
    documented = re.search(r"airflow backfill create (.+?)\n```", dags[CLOSING_DAG_IDS[0]].doc_md, re.S)
    assert documented is not None
    arguments = documented.group(1).replace("\\\n", " ").split()

    assert planned_backfill_runs(*arguments) == [
        pendulum.datetime(2026, month, 1, tz="Europe/Zurich") for month in (1, 2, 3)
    ]


@pytest.mark.airflow
@pytest.mark.usefixtures("serialized_example")
def test_backfill_dates_without_offset_are_utc_and_miss_the_first_month() -> None:
    # Why the documented recipe carries the billing zone's offset: 2026-01-01 00:00 UTC is after
    # the start of January in Zurich, so January is not in the range.
    runs = planned_backfill_runs(
        "--dag-id", CLOSING_DAG_IDS[0], "--from-date", "2026-01-01", "--to-date", "2026-03-01"
    )

    assert runs == [pendulum.datetime(2026, month, 1, tz="Europe/Zurich") for month in (2, 3)]


def planned_backfill_runs(*arguments: str) -> list[pendulum.DateTime]:
    """The logical dates ``airflow backfill create --dry-run`` lists for ``arguments``."""
    planned = run_airflow("backfill", "create", *arguments, "--dry-run", config=EXAMPLE)
    assert planned.returncode == 0, planned.stderr
    return [pendulum.parse(found) for found in re.findall(r"^\| (\d{4}-\d\d-\d\d \S+)", planned.stdout, re.M)]


@pytest.mark.airflow
@pytest.mark.usefixtures("airflow_db")
def test_airflow_cli_reports_the_import_error(tmp_path: Path) -> None:
    listed = run_airflow(
        "dags", "list-import-errors", "--local", "--output", "json", config=broken_config(tmp_path)
    )

    rows = json_rows(listed.stdout)
    assert sorted(Path(row["filepath"]).name for row in rows) == list(DAG_FILES)
    for row in rows:
        assert "billing_timezone: unknown time zone 'Mars/Base'" in row["error"]
