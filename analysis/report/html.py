"""``render_html``: the report as one self-contained HTML page (Django template, autoescaped)."""

from __future__ import annotations

from typing import Any

from .build import build_report


def render_html(result_or_report: dict[str, Any]) -> str:
    """HTML for a built report, or for an ``analyze`` result (built first).

    Rendered with Django's template engine from ``templates/report/report.html``; figures are
    inline SVG, styles inline, no scripts and no network requests.
    """
    from django.template.loader import render_to_string

    from .context import report_context

    report = build_report(result_or_report)
    return render_to_string("report/report.html", report_context(report))
