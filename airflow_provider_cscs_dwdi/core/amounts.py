"""What Waldur can store: the ceiling of a ``set_usage`` amount.

A small room of its own because three floors need the number: the write planner refuses amounts
above it, the Waldur connection lets an operator lower it (``max_usage_amount``), and the
connection form shows it as the default. None of them should stand on the others for a constant.
"""

from __future__ import annotations

from decimal import Decimal

#: The largest ``set_usage`` amount Waldur stores: 7.0.7 answers 500 from 10^12 on (invoice item
#: quantity overflow, the write rolled back) and 400 from 10^18 on (more than 20 digits).
DEFAULT_MAX_USAGE_AMOUNT = Decimal("999999999999.99")
