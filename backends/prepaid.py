"""Prepaid components (`accounting_type: one`): the customer pays up front for a duration.

Waldur holds the resource's `created` time and `end_date`; a renewal moves `end_date` on. A
backend whose limit is a budget for the whole allocation (SLURM's GrpTRESMins) multiplies the
monthly limit by the months between the two, counted as Waldur counts them.
"""

from __future__ import annotations

from datetime import date, datetime


def duration_months(created: str | None, end_date: str | None) -> int | None:
    """Whole months from `created` to `end_date`, a started month counting in full, at least
    one; None when Waldur gave no dates (or dates that do not parse)."""
    if not created or not end_date:
        return None
    try:
        start = datetime.fromisoformat(created.replace("Z", "+00:00")).date()
        end = date.fromisoformat(end_date[:10])
    except ValueError:
        return None
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day > start.day:
        months += 1
    return max(1, months)
