"""Command line of the Waldur double: ``python -m sandbox.waldur`` (or ``-m sandbox.waldur_server``)."""

from __future__ import annotations

import argparse
import json
from datetime import date

from sandbox._serving import serve_until_signalled
from sandbox.waldur.server import WaldurSandbox


def main(argv: list[str] | None = None) -> int:
    """Run a sandbox until SIGINT/SIGTERM; print ``{"url", "version", "staff_token", "provider_token"}``."""
    parser = argparse.ArgumentParser(description="In-memory Waldur test server (seeds nothing).")
    # Every `dest` is a WaldurSandbox keyword argument.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", choices=("7", "8"), default="8")
    parser.add_argument(
        "--latency",
        dest="latency_seconds",
        type=float,
        default=0.0,
        help="seconds slept before every /api answer",
    )
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the server's date, YYYY-MM-DD"
    )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="do not check requests against the schema",
    )
    parser.add_argument(
        "--time-zone", default=None, help="the server's TIME_ZONE, e.g. Europe/Zurich (default UTC)"
    )
    parser.add_argument(
        "--advertised-url", default=None, help="scheme://host[:port] for Link headers and hyperlinks"
    )
    sandbox = WaldurSandbox(**vars(parser.parse_args(argv)))
    info = {
        "url": sandbox.url,
        "version": sandbox.version,
        "staff_token": sandbox.staff_token,
        "provider_token": sandbox.provider_token,
    }
    serve_until_signalled(sandbox, json.dumps(info))
    return 0
