"""Command line of the Waldur double: ``python -m sandbox.waldur`` (or ``-m sandbox.waldur_server``)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import date

from sandbox.waldur.server import WaldurSandbox


def main(argv: list[str] | None = None) -> int:
    """Run a sandbox until SIGINT/SIGTERM; print ``{"url", "version", "staff_token", "provider_token"}``."""
    parser = argparse.ArgumentParser(description="In-memory Waldur test server (seeds nothing).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", choices=("7", "8"), default="8")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before every /api answer")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the server's date, YYYY-MM-DD"
    )
    parser.add_argument("--no-validate", action="store_true", help="do not check requests against the schema")
    parser.add_argument(
        "--time-zone", default=None, help="the server's TIME_ZONE, e.g. Europe/Zurich (default UTC)"
    )
    parser.add_argument(
        "--advertised-url", default=None, help="scheme://host[:port] for Link headers and hyperlinks"
    )
    arguments = parser.parse_args(argv)
    sandbox = WaldurSandbox(
        version=arguments.version,
        latency_seconds=arguments.latency,
        validate=not arguments.no_validate,
        host=arguments.host,
        port=arguments.port,
        today=arguments.today,
        time_zone=arguments.time_zone,
        advertised_url=arguments.advertised_url,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with sandbox:
        info = {
            "url": sandbox.url,
            "version": sandbox.version,
            "staff_token": sandbox.staff_token,
            "provider_token": sandbox.provider_token,
        }
        print(json.dumps(info), flush=True)
        stopping.wait()
    return 0
