"""DWDI quantities read exactly: one value checked, one entry's user rows summed by username.

The hot path of the aggregation (millions of user rows a month) lives here, with the rule of what
a usable DWDI quantity is: a finite, non-negative number. Null, negative, NaN/Infinity, strings
and booleans never become zero; each one is recorded in the :class:`~core.issues.IssueLog`.
Sums are plain ``Decimal`` additions: the caller runs them in a context precise enough that
nothing rounds (``core.usage``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.issues import IssueLog

_ZERO = Decimal(0)
_MISSING: Any = object()
_INFINITY = math.inf


class QuantityReader:
    """Checks DWDI values and sums user rows, recording every bad value as an issue.

    :param fields: the DWDI field of each component, in component order.
    :param issues: where bad values are recorded.
    """

    def __init__(self, fields: tuple[str, ...], issues: IssueLog) -> None:
        self.fields = fields
        self.issues = issues
        #: User rows left out because of a bad value, a missing username or a bad shape.
        self.rows_skipped = 0

    def quantity(
        self, value: Any, record: str, account: str, user: str | None, field: str, *, consequence: str
    ) -> Decimal | None:
        """The value as a non-negative Decimal, or None after recording why it is not one."""
        problem: str | None = None
        kind = ""
        number: Decimal | None = None
        if value is None:
            kind, problem = "null_value", "is null"
        elif isinstance(value, bool) or not isinstance(value, (Decimal, int, float)):
            # JSON true/false and strings (even "12") are not numbers: DWDI sends numbers.
            kind, problem = "non_numeric", "is not a number"
        elif isinstance(value, float) and not math.isfinite(value):
            kind, problem = "not_a_number", "is not a finite number"
        else:
            # repr(): the shortest text that reads back as this float (0.1 -> "0.1").
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if not number.is_finite():
                kind, problem, number = "not_a_number", "is not a finite number", None
            elif number < 0:
                kind, problem, number = "negative_value", "is negative", None
        if problem is None:
            return number
        owner = f"of user {user!r} in account {account!r}" if user is not None else f"of account {account!r}"
        self.issues.add(
            kind, record, account, user, field, value, f"{field} {owner} {problem}", consequence=consequence
        )
        return None

    def sum_users(self, users: list[Any], record: str, account: str) -> list[dict[str, Decimal]]:
        """The entry's user rows summed by username, one ``{username: sum}`` per component.

        :param record: where the entry stands, e.g. ``"page 2, compute[13]"``.
        """
        if len(self.fields) == 1:
            return [self._sum_one(users, record, account)]
        return self._sum_many(users, record, account)

    def _sum_one(self, users: list[Any], record: str, account: str) -> dict[str, Decimal]:
        """Sum the user rows of one entry for a single component, by username.

        Plain Decimal and int values of well-formed rows are added inline; anything else goes
        through ``_slow_row``.
        """
        field = self.fields[0]
        per_user: dict[str, Decimal] = {}
        get = per_user.get
        for index, row in enumerate(users):
            if row.__class__ is dict:
                name = row.get("username")
                if name.__class__ is str and name and not name.isspace():
                    value = row.get(field, _MISSING)
                    kind = value.__class__
                    if kind is Decimal:
                        # is_signed() also sends -0 to the slow path, which accepts it.
                        if value.is_finite() and not value.is_signed():
                            per_user[name] = get(name, _ZERO) + value
                            continue
                    elif kind is int:
                        if value >= 0:
                            per_user[name] = get(name, _ZERO) + value
                            continue
                    elif kind is float:
                        # Parsed without parse_float=Decimal: repr() is the float's shortest text.
                        if 0.0 <= value < _INFINITY:
                            per_user[name] = get(name, _ZERO) + Decimal(repr(value))
                            continue
                    elif value is _MISSING:
                        # A row without this component contributes nothing: not an issue.
                        continue
            good = self._slow_row(row, f"{record}.users[{index}]", account)
            if good is not None:
                name, values = good
                if values[0] is not None:
                    per_user[name] = get(name, _ZERO) + values[0]
        return per_user

    def _sum_many(self, users: list[Any], record: str, account: str) -> list[dict[str, Decimal]]:
        """Sum the user rows of one entry for several components, by component and username.

        A row is checked completely before anything of it is added: under SKIP a bad row is left
        out with all its components.
        """
        fields = self.fields
        per_user: list[dict[str, Decimal]] = [{} for _ in fields]
        pairs = tuple(zip(fields, per_user, strict=True))
        for index, row in enumerate(users):
            if row.__class__ is dict:
                name = row.get("username")
                if name.__class__ is str and name and not name.isspace():
                    for field in fields:
                        value = row.get(field, _MISSING)
                        if value is _MISSING:
                            continue
                        kind = value.__class__
                        if kind is Decimal:
                            if value.is_finite() and not value.is_signed():
                                continue
                        elif kind is int:
                            if value >= 0:
                                continue
                        elif kind is float and 0.0 <= value < _INFINITY:
                            continue
                        break  # unusual value: the slow path decides
                    else:
                        for field, sums in pairs:
                            value = row.get(field)
                            if value is not None:
                                if value.__class__ is float:
                                    value = Decimal(repr(value))
                                sums[name] = sums.get(name, _ZERO) + value
                        continue
            good = self._slow_row(row, f"{record}.users[{index}]", account)
            if good is not None:
                name, values = good
                for (_field, sums), value in zip(pairs, values, strict=True):
                    if value is not None:
                        sums[name] = sums.get(name, _ZERO) + value
        return per_user

    def _slow_row(self, row: Any, record: str, account: str) -> tuple[str, list[Decimal | None]] | None:
        """Check an unusual user row; returns its name and values, or None when it is left out."""
        if not isinstance(row, Mapping):
            self.issues.add(
                "malformed_entry",
                record,
                account,
                None,
                None,
                row,
                "the user row is not a JSON object",
                consequence="the row is left out",
            )
            self.rows_skipped += 1
            return None
        name = row.get("username", _MISSING)
        if not isinstance(name, str) or not name.strip():
            self.issues.add(
                "missing_username",
                record,
                account,
                None,
                "username",
                None if name is _MISSING else name,
                "the user row has no username",
                consequence="the row is left out",
            )
            self.rows_skipped += 1
            return None
        values: list[Decimal | None] = []
        good = True
        for field in self.fields:
            if field not in row:
                values.append(None)
                continue
            value = self.quantity(row[field], record, account, name, field, consequence="the row is left out")
            good = good and value is not None
            values.append(value)
        if not good:
            self.rows_skipped += 1
            return None
        return name, values
