"""``python -m sandbox`` (``make sandbox``): the sandbox on its own, to try a real Airflow against.

``python -m sandbox [run]`` starts the OIDC issuer and the DWDI and Waldur doubles on loopback,
seeded with the demo's data (the example offerings file), prints what an Airflow needs to use
them (the connections as ``export`` lines to paste into a shell, the offerings file) and how to
read what the Waldur double holds, then serves until Ctrl-C (SIGINT) or SIGTERM.

``python -m sandbox waldur --url URL [--month YYYY-MM]`` prints what a running Waldur double
holds, one line per usage total and user usage. Read-only: it only calls ``GET /sandbox/state``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "dags" / "cscs_dwdi_offerings.example.yaml"
#: The line ``run`` prints once every service answers; a script waits for it.
READY = "Sandbox ready."


def with_port(connection: Mapping[str, Any]) -> dict[str, Any]:
    """The connection with its URL's port in the Port field too: the UI's Test button needs one."""
    port = urlsplit(str(connection["host"])).port
    return {**connection, "port": port} if port is not None else dict(connection)


def export_lines(variables: Mapping[str, str]) -> list[str]:
    """POSIX ``export NAME='value'`` lines (single-quoted: JSON keeps its double quotes)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]


def sandbox_variables(stack: Any, config: Path) -> dict[str, str]:
    """What a shell needs to point an Airflow at the running ``stack``."""
    return {
        "SANDBOX_DWDI_CONN": json.dumps(with_port(stack.dwdi_connection())),
        "SANDBOX_WALDUR_CONN": json.dumps(with_port(stack.waldur_connection())),
        "SANDBOX_WALDUR_URL": stack.waldur.url,
        "SANDBOX_OFFERINGS": str(config),
    }


def run(args: argparse.Namespace) -> int:
    from airflow_provider_cscs_dwdi.core.config import load_config
    from sandbox.stack import SandboxStack

    config = Path(args.config).resolve()
    offerings = load_config(config).offerings
    stack = SandboxStack(
        offerings,
        host=args.host,
        oidc_port=args.oidc_port,
        dwdi_port=args.dwdi_port,
        waldur_port=args.waldur_port,
    )
    stopped = threading.Event()
    # SIGINT explicitly too: a shell starting `make sandbox &` from a script hands it SIGINT ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopped.set())
    with stack:
        variables = sandbox_variables(stack, config)
        lines = export_lines(variables)
        if args.env_file:
            Path(args.env_file).write_text("\n".join(lines) + "\n")
        slugs = ", ".join(item.config.slug for item in stack.seeded)
        print(
            "\n".join(
                [
                    f"OIDC issuer  {stack.issuer_url}",
                    f"DWDI double  {stack.dwdi_url}",
                    f"Waldur double {stack.waldur.url}/api/  (staff token in SANDBOX_WALDUR_CONN)",
                    "",
                    f"Offerings file: {config}",
                    f"  (the example offerings, unchanged; seeded offerings: {slugs})",
                    "",
                    "Paste into the shell where you run airflow:",
                    *(f"  {line}" for line in lines),
                    "",
                    "What the Waldur double holds:",
                    f"  python -m sandbox waldur --url {stack.waldur.url}",
                    f"  curl -s {stack.waldur.url}/sandbox/state",
                    "",
                    f"{READY} Ctrl-C stops it.",
                ]
            ),
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    print("Sandbox stopped.", flush=True)
    return 0


def waldur_lines(state: Mapping[str, Any], month: str | None) -> list[str]:
    """What the double holds, one line per usage total and user usage, sorted."""
    offerings = {item["uuid"]: item["name"] for item in state["offerings"]}
    resources = {item["uuid"]: item for item in state["resources"]}
    usages = {item["uuid"]: item for item in state["component_usages"]}
    users: dict[str, list[Mapping[str, Any]]] = {}
    for item in state["user_usages"]:
        users.setdefault(item["component_usage_uuid"], []).append(item)
    rows = []
    for usage in usages.values():
        period = str(usage["billing_period"])[:7]
        if month is not None and period != month:
            continue
        resource = resources[usage["resource_uuid"]]
        offering = offerings.get(resource["offering_uuid"], resource["offering_uuid"])
        rows.append((offering, period, resource["backend_id"], usage["component_type"], "-", usage["usage"]))
        for user in users.get(usage["uuid"], []):
            rows.append(
                (
                    offering,
                    period,
                    resource["backend_id"],
                    usage["component_type"],
                    user["username"],
                    user["usage"],
                )
            )
    header = ("offering", "month", "resource", "component", "user", "usage")
    table = [header, *sorted((*row[:5], f"{float(row[5]):.2f}") for row in rows)]
    widths = [max(len(str(row[column])) for row in table) for column in range(len(header))]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in table
    ]


def waldur(args: argparse.Namespace) -> int:
    with urlopen(f"{args.url.rstrip('/')}/sandbox/state", timeout=30) as reply:
        state = json.load(reply)
    lines = waldur_lines(state, args.month)
    print(
        "\n".join(lines)
        if len(lines) > 1
        else "the Waldur double holds no usage" + (f" for {args.month}" if args.month else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("run", help="start the sandbox (the default)")
    start.add_argument("--config", default=str(EXAMPLE_CONFIG), help="offerings file to seed from")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--oidc-port", type=int, default=0, help="0: a free port")
    start.add_argument("--dwdi-port", type=int, default=0)
    start.add_argument("--waldur-port", type=int, default=0)
    start.add_argument("--env-file", default=None, help="also write the export lines to this file")
    read = commands.add_parser("waldur", help="print what a running Waldur double holds")
    read.add_argument("--url", required=True, help="the Waldur double's URL (printed by run)")
    read.add_argument("--month", default=None, help="YYYY-MM: only this month")
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, "run")
    args = parser.parse_args(arguments)
    return waldur(args) if args.command == "waldur" else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
