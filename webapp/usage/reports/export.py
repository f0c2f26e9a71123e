"""A report's table as a CSV file: the rows and columns the page shows, in plain numbers."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal

from django.http import HttpResponse
from django.utils.text import slugify

from .selectors import GROUPS, Report, usd

MICRO = Decimal("0.000001")
# A spreadsheet runs a cell that starts with one of these as a formula; names are the
# people's own, so a name like "=HYPERLINK(...)" is written as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_filename(*, whose: str, report: Report) -> str:
    """usage-<team or person>-<first day>-<last day>-<group>.csv, in ASCII for every browser."""
    period = report.period
    return f"usage-{slugify(whose) or 'team'}-{period.first.isoformat()}-{period.last.isoformat()}-{report.group}.csv"


def _value(sums, name: str) -> str:
    if name == "cost_ticks":
        return f"{usd(sums.cost_ticks).quantize(MICRO, ROUND_HALF_UP):f}"
    return str(getattr(sums, name))


def usage_csv(*, whose: str, report: Report) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(whose=whose, report=report)}"'
    writer = csv.writer(response)
    writer.writerow([GROUPS[report.group], *(heading for _, heading in report.columns)])
    for row in report.rows:
        writer.writerow([cell(row.label), *(cell(_value(row.sums, name)) for name, _ in report.columns)])
    return response
