"""The DWDI API double (compute, storage, inference) for the tests, the demo and docker-compose.

The provider never imports it. It serves the endpoints of ``/work/shared/reference/dwdi-api.md``
from deterministic generated datasets, behind the same bearer-JWT check and 8 KiB URL limit:

- :mod:`.server`: :class:`DWDISandbox` (routing, fault injection, recording);
- :mod:`.auth`: bearer checking (JWT against the issuer's JWKS, or a static token);
- :mod:`.query`, :mod:`.replies`: query parsing and HTTP answers;
- :mod:`.compute`, :mod:`.storage`, :mod:`.inference`: one module per endpoint family;
- :mod:`.storage_data`, :mod:`.inference_data`: the storage and inference datasets, with their
  expected results and bad-value injections (the compute dataset is :mod:`sandbox.dwdi_data`);
- :mod:`.admin`: the ``/sandbox/...`` admin API; :mod:`.cli`: ``python -m sandbox.dwdi_server``.
"""
