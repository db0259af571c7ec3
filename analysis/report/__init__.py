"""The statistical report: built once from an ``analyze`` result, rendered as HTML, JSON, ZIP.

``build_report(result)`` is the single source of truth (a JSON-serialisable dict);
``render_html`` renders it (or an ``analyze`` result, built first) with Django's template
engine; ``report_for_study`` and ``build_bundle`` fetch a study's data through
``analysis.runner`` and ``analysis.dataset``.
"""

from __future__ import annotations

from .build import SCHEMA, VOLATILE_KEYS, build_report, is_report

__all__ = [
    "SCHEMA",
    "VOLATILE_KEYS",
    "build_bundle",
    "build_report",
    "is_report",
    "render_html",
    "report_for_study",
]


def __getattr__(name: str):
    # The renderer needs Django's template engine and the bundle the ORM; import them on use
    # so that building a report stays a pure function.
    if name == "render_html":
        from .html import render_html

        return render_html
    if name in ("report_for_study", "build_bundle"):
        from . import bundle

        return getattr(bundle, name)
    raise AttributeError(name)
