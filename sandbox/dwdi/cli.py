"""Command line of the DWDI double (serves in the foreground until SIGINT/SIGTERM, after printing
``READY <url>``)::

    python -m sandbox.dwdi_server --host 0.0.0.0 --port 8081 --jwks-url URL --issuer URL \\
        [--accounts g1,g2 | --accounts-count N] [--storage-paths-count N] \\
        [--resource-uuids-count N] [--seed 7]

``--issuer`` defaults to ``$SANDBOX_OIDC_ISSUER`` and ``--jwks-url`` to ``$SANDBOX_OIDC_JWKS_URL``;
with an issuer but no JWKS URL, the ``jwks_uri`` of the issuer's discovery document is used.
Generated storage paths are ``/capstor/store/cscs/p001``.., resource UUIDs ``uuid5`` of ``r001``..
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
import uuid
from datetime import date

from sandbox.dwdi.inference_data import InferenceDataset
from sandbox.dwdi.server import DWDISandbox
from sandbox.dwdi.storage_data import StorageDataset
from sandbox.dwdi_data import DwdiDataset


def discover_jwks_url(issuer: str, *, timeout_seconds: float = 60.0) -> str:
    """The ``jwks_uri`` of ``issuer``'s discovery document, retried while the issuer starts."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(json.load(response)["jwks_uri"])
        except (OSError, ValueError, KeyError) as error:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cannot read {url}: {error}") from error
            time.sleep(1.0)


def generated_resource_uuids(count: int) -> list[str]:
    """``count`` stable resource UUIDs (32 hex digits, as Waldur writes them)."""
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"dwdi-sandbox/r{n:03d}").hex for n in range(1, count + 1)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="DWDI API test double (generated usage).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer", default=os.environ.get("SANDBOX_OIDC_ISSUER"), help="expected iss")
    parser.add_argument(
        "--jwks-url",
        default=os.environ.get("SANDBOX_OIDC_JWKS_URL"),
        help="default: from the issuer's discovery",
    )
    parser.add_argument("--audience", default="dwdi-api", help="expected aud ('' = not checked)")
    parser.add_argument("--static-token", default=None, help="without an issuer: the accepted bearer token")
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument("--accounts", default=None, help="comma-separated account names")
    accounts.add_argument("--accounts-count", type=int, default=20, help="accounts g001..gNNN (default 20)")
    parser.add_argument("--clusters", default="daint,eiger", help="comma-separated cluster names")
    parser.add_argument("--users-per-account", type=int, default=3)
    parser.add_argument("--storage-paths-count", type=int, default=20, help="paths /capstor/store/cscs/pNNN")
    parser.add_argument("--resource-uuids-count", type=int, default=20, help="generated resource UUIDs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="last day with usage, YYYY-MM-DD"
    )
    parser.add_argument(
        "--total-field", default="totalNodeHours", choices=("totalNodeHours", "accountNodeHours")
    )
    parser.add_argument("--max-url-bytes", type=int, default=8192)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a DWDI sandbox with generated datasets until SIGINT/SIGTERM; prints ``READY <url>``."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = (
        [name.strip() for name in arguments.accounts.split(",") if name.strip()]
        if arguments.accounts
        else [f"g{number:03d}" for number in range(1, arguments.accounts_count + 1)]
    )
    dataset = DwdiDataset(
        accounts=names,
        clusters=[name.strip() for name in arguments.clusters.split(",") if name.strip()],
        users_per_account=arguments.users_per_account,
        seed=arguments.seed,
        today=arguments.today,
        total_field=arguments.total_field,
    )
    paths = [f"/capstor/store/cscs/p{n:03d}" for n in range(1, arguments.storage_paths_count + 1)]
    jwks_url = arguments.jwks_url
    if jwks_url is None and arguments.issuer:
        jwks_url = discover_jwks_url(arguments.issuer)
    if jwks_url is None and arguments.static_token is None:
        print("WARNING: no --issuer/--jwks-url/--static-token: every request is accepted", file=sys.stderr)
    sandbox = DWDISandbox.for_dataset(
        dataset,
        storage=StorageDataset(paths=paths, seed=arguments.seed, today=dataset.today),
        inference=InferenceDataset(
            resource_uuids=generated_resource_uuids(arguments.resource_uuids_count),
            seed=arguments.seed,
            today=dataset.today,
        ),
        jwks_url=jwks_url,
        issuer=arguments.issuer,
        host=arguments.host,
        port=arguments.port,
        audience=arguments.audience or None,
        max_url_bytes=arguments.max_url_bytes,
        static_token=arguments.static_token,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with sandbox:
        print(f"READY {sandbox.url}", flush=True)
        stopping.wait()
    return 0
