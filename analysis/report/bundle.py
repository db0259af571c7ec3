"""A study's report and its reproducibility bundle (the two entry points that touch the ORM).

``report_for_study`` runs the analysis through ``analysis.runner.analyze_study``, adds what
the report shows beyond the ``analyze`` result (the study's scales and design, rating counts
per value), and builds the report. ``build_bundle`` zips the report with the tidy files from
``analysis.dataset.export_study`` and a README with the lme4 calls that refit the models in R.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .build import build_report
from .html import render_html
from .rscript import readme_text

BUNDLE_FILES = (
    "report.html",
    "report.json",
    "ratings.csv",
    "comparisons.csv",
    "responses.csv",
    "participants.csv",
    "codebook.json",
    "README.txt",
)


def _study_details(study: Any) -> dict[str, Any]:
    scales = [
        {"key": s.key, "question": s.question, "min": s.min_value, "max": s.max_value,
         "low_anchor": s.low_anchor, "high_anchor": s.high_anchor, "applies_to": s.applies_to}
        for s in study.scales.order_by("order", "pk")
    ]
    design = {
        "ratings_per_item": study.ratings_per_item,
        "items_per_participant": study.items_per_participant,
        "attention_check_interval": study.attention_check_interval,
        "one_response_per_prompt": study.one_response_per_prompt,
        "random_seed": study.random_seed,
    }
    return {"scales": scales, "design": design}


def _distributions(study: Any, scales: list[dict[str, Any]], include_excluded: bool) -> dict:
    from ..dataset import study_frames
    from ..pipeline import select_rows
    from .distributions import rating_distributions

    ratings = study_frames(study)["ratings"]
    if ratings.empty:
        return {"scales": []}
    kept, _ = select_rows(ratings, include_excluded=include_excluded)
    ranges = {s["key"]: (s["min"], s["max"]) for s in scales}
    return rating_distributions(kept, scale_ranges=ranges)


def report_for_study(study: Any, **options: Any) -> dict[str, Any]:
    """The built report of ``study``; ``options`` go to ``analyze_study`` (formulas, method,
    include_excluded, n_boot, seed). Raises ``AnalysisInputError`` when there is nothing to
    analyse yet."""
    from ..runner import analyze_study

    result = analyze_study(study.slug, **options)
    details = _study_details(study)
    result["study"] = {**(result.get("study") or {}), **details}
    if "distributions" not in result:
        # The analyze result has means, not counts per value; the pipeline could add them
        # (then this second read of the ratings goes away).
        result["distributions"] = _distributions(
            study, details["scales"], bool(options.get("include_excluded"))
        )
    return build_report(result)


def report_json(report: dict[str, Any]) -> str:
    """The report as the JSON text every download uses (strict: no NaN)."""
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def build_bundle(study: Any, *, report: dict[str, Any] | None = None, **options: Any) -> bytes:
    """A ZIP of :data:`BUNDLE_FILES` for ``study``.

    ``report`` (a built report, e.g. from a cache) is used as is; otherwise it is built with
    ``options``. The tidy files are exported in the same call, so they hold the data the
    report was built from unless ratings arrive in between (the README says how to check).
    """
    from ..dataset import export_study

    report = report if report is not None else report_for_study(study, **options)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="rpl-bundle-") as tmp:
        export_study(study, tmp)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("report.html", render_html(report))
            archive.writestr("report.json", report_json(report))
            for name in ("ratings.csv", "comparisons.csv", "responses.csv", "participants.csv",
                         "codebook.json"):
                archive.write(Path(tmp) / name, arcname=name)
            archive.writestr("README.txt", readme_text(report))
    return buffer.getvalue()
