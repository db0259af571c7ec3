"""The template context of the HTML report: the built report's rows as display cells and SVG.

Pure presentation: every number shown comes from the report dict and is formatted by
``formatting``. A cell remembers where its value lives (``key``, a dotted path into the report)
and how it was formatted (``f``); the HTML carries both as ``data-k``/``data-f`` so that a test
can check every number in the page against the JSON.
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import mark_safe

from . import svg
from .formatting import FORMATTERS, MISSING


def cell(report: dict[str, Any], key: str, f: str, cls: str = "num") -> dict[str, Any]:
    """A display cell for the value at the dotted ``key`` of ``report``."""
    value: Any = report
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
        if value is None:
            break
    return {"text": FORMATTERS[f](value), "key": key, "f": f, "cls": cls, "ci": False}


def ci_cell(report: dict[str, Any], prefix: str, f: str, low: str = "ci_low",
            high: str = "ci_high") -> dict[str, Any]:
    lo, hi = cell(report, f"{prefix}.{low}", f), cell(report, f"{prefix}.{high}", f)
    present = lo["text"] != MISSING and hi["text"] != MISSING
    return {"ci": True, "low": lo, "high": hi, "present": present, "cls": "num ci"}


def value_ci_cell(report: dict[str, Any], prefix: str, f: str, value: str) -> dict[str, Any]:
    """The value with its interval beneath it, in one cell (keeps wide tables readable)."""
    return {**ci_cell(report, prefix, f), "vci": True, "value": cell(report, f"{prefix}.{value}", f)}


def text_cell(value: Any, cls: str = "") -> dict[str, Any]:
    return {"text": FORMATTERS["text"](value), "key": "", "f": "", "cls": cls, "ci": False}


def _summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    cards = []
    flow = report["flow"]
    if flow.get("available"):
        cards.append({"label": "participants analysed", **cell(report, "flow.analysed", "int")})
        cards.append({"label": "participants entered", **cell(report, "flow.entered", "int")})
    if report.get("data"):
        cards.append({"label": "rating rows analysed", **cell(report, "data.rows_used", "int")})
    if report["models_table"].get("available"):
        cards.append({"label": "models", "text": str(len(report["models_table"]["rows"])),
                      "key": "", "f": ""})
    if report["pairwise"].get("available"):
        cards.append({"label": "A/B comparisons", **cell(report, "pairwise.n_comparisons", "int")})
    return cards


def _reliability(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(report["reliability"].get("scales") or []):
        p = f"reliability.scales.{i}"
        icc = next((e for e in row["icc"] if e["type"] in ("ICC2", "ICC(A,1)")), None)
        j = row["icc"].index(icc) if icc else None
        rows.append({
            "cells": [text_cell(row["scale"]), cell(report, f"{p}.alpha", "num3"),
                      ci_cell(report, p, "num3"), cell(report, f"{p}.n_items", "int"),
                      cell(report, f"{p}.n_raters", "int"), cell(report, f"{p}.n_values", "int")],
            "icc": [cell(report, f"{p}.icc.{j}.icc", "num3"), ci_cell(report, f"{p}.icc.{j}", "num3")]
            if icc else None,
            "icc_reason": row["icc_reason"],
            "note": row["note"],
        })
    return rows


def _models_table(report: dict[str, Any]) -> list[list[dict[str, Any]]]:
    rows = []
    for i, row in enumerate(report["models_table"].get("rows") or []):
        p = f"models_table.rows.{i}"
        cells = [text_cell(row["model"], "model")]
        for metric in ("orr", "cr", "trr"):
            cells.append(value_ci_cell(report, f"{p}.{metric}", "pct", "value"))
        for k, _ in enumerate(row["perceived"]):
            cells.append(value_ci_cell(report, f"{p}.perceived.{k}", "num2", "mean"))
        rows.append(cells)
    return rows


def _fit(report: dict[str, Any], i: int, fit: dict[str, Any]) -> dict[str, Any]:
    p = f"fits.{i}"
    if not fit["ok"]:
        return {**fit, "key": p}
    random = [
        [text_cell(r["group"]), text_cell(r["term"]), cell(report, f"{p}.random.{j}.variance", "num3"),
         cell(report, f"{p}.random.{j}.sd", "num3")]
        for j, r in enumerate(fit["random"])
    ]
    fixed = [
        [text_cell(r["term"], "term")] + [cell(report, f"{p}.fixed.{j}.{k}", f) for k, f in
                                          (("estimate", "num3"), ("se", "num3"), ("t", "num2"), ("p", "p"))]
        + [ci_cell(report, f"{p}.fixed.{j}", "num3")]
        for j, r in enumerate(fit["fixed"])
    ]
    comparison = [
        {"flagged": row.get("flagged"), "reason": row.get("reason") or "agree",
         "cells": [text_cell(row["term"], "term")]
         + [cell(report, f"{p}.comparison.{j}.{k}", f) for k, f in
            (("linear_estimate", "num3"), ("linear_p", "p"), ("ordinal_estimate", "num3"),
             ("ordinal_p", "p"))]}
        for j, row in enumerate(fit["comparison"])
    ]
    return {
        **fit,
        "key": p,
        "criterion_cell": cell(report, f"{p}.criterion", "num2"),
        "stats": [(label, cell(report, f"{p}.{k}", f)) for label, k, f in (
            ("logLik", "loglik", "num2"), ("AIC", "aic", "num2"), ("BIC", "bic", "num2"),
            ("R² marginal", "r2_marginal", "num3"), ("R² conditional", "r2_conditional", "num3"))],
        "random_rows": random,
        "fixed_rows": fixed,
        "obs_cell": cell(report, f"{p}.n_obs", "int"),
        "group_cells": [(g["group"], cell(report, f"{p}.groups.{j}.n", "int"))
                        for j, g in enumerate(fit["groups"])],
        "comparison_rows": comparison,
        "svg": mark_safe(svg.forest_plot(fit, ident=f"fig-forest-{i}")) if fit["fixed"] else "",
    }


def _pairwise(report: dict[str, Any]) -> dict[str, Any]:
    pw = report["pairwise"]
    if not pw.get("available"):
        return {}
    bt = [
        [cell(report, f"pairwise.bradley_terry.{j}.rank", "int"), text_cell(r["model"], "model"),
         cell(report, f"pairwise.bradley_terry.{j}.log_strength", "num3"),
         ci_cell(report, f"pairwise.bradley_terry.{j}", "num3"),
         cell(report, f"pairwise.bradley_terry.{j}.strength", "num3")]
        + [cell(report, f"pairwise.bradley_terry.{j}.{k}", "int") for k in ("wins", "losses", "ties", "n")]
        for j, r in enumerate(pw["bradley_terry"])
    ]
    agreement = pw.get("ranking_agreement") or {}
    return {
        "bt_rows": bt,
        "bias": [cell(report, "pairwise.position_bias.share_left", "pct"),
                 ci_cell(report, "pairwise.position_bias", "pct"),
                 cell(report, "pairwise.position_bias.k", "int"),
                 cell(report, "pairwise.position_bias.n", "int"),
                 cell(report, "pairwise.position_bias.n_ties", "int"),
                 cell(report, "pairwise.position_bias.p", "p")],
        "agreement": [cell(report, "pairwise.ranking_agreement.tau", "num3"),
                      cell(report, "pairwise.ranking_agreement.p", "p"),
                      cell(report, "pairwise.ranking_agreement.n", "int")] if agreement else None,
        "bt_svg": mark_safe(svg.bradley_terry_chart(pw)) if pw["identifiable"] else "",
        "bias_svg": mark_safe(svg.position_bias_chart(pw["position_bias"]))
        if pw["position_bias"].get("n") else "",
    }


def _correlations(report: dict[str, Any]) -> list[list[dict[str, Any]]]:
    rows = (report.get("perception") or {}).get("correlations") or []
    return [
        [text_cell(r["scale"]), cell(report, f"perception.correlations.{j}.n", "int")]
        + [cell(report, f"perception.correlations.{j}.{k}", f) for k, f in
           (("pearson_r", "num3"), ("pearson_p", "p"), ("spearman_rho", "num3"), ("spearman_p", "p"))]
        for j, r in enumerate(rows)
    ]


def _flow_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"active": e["active"], "label": e["label"], "rule": e["rule"],
         "cells": [cell(report, f"flow.exclusions.{j}.n_first", "int"),
                   cell(report, f"flow.exclusions.{j}.n_any", "int")]}
        for j, e in enumerate(report["flow"].get("exclusions") or [])
    ]


def _inline_cells(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Numbers quoted in running text, each still traceable to its key."""
    keys = {
        "rows_in": ("data.rows_in", "int"),
        "left_attention": ("data.left_out.attention_check", "int"),
        "left_excluded": ("data.left_out.excluded_participant", "int"),
        "rows_used": ("data.rows_used", "int"),
        "in_models": ("flow.participants_in_models", "int"),
        "n_comparisons": ("pairwise.n_comparisons", "int"),
        "n_participants": ("pairwise.n_participants", "int"),
    }
    return {name: cell(report, key, f) for name, (key, f) in keys.items()}


def report_context(report: dict[str, Any]) -> dict[str, Any]:
    """Everything ``templates/report/report.html`` needs; the template only loops and tests."""
    scales = {s["key"]: s for s in report["study"].get("scales") or []}
    ranges = {k: (s["min"], s["max"]) for k, s in scales.items() if "min" in s and "max" in s}
    for panel in report["distributions"].get("scales") or []:
        ranges.setdefault(panel["scale"], (panel["values"][0], panel["values"][-1]))
    table = report["models_table"]
    flow = report["flow"]
    return {
        "report": report,
        "summary": _summary(report),
        "flow_svg": mark_safe(svg.flow_diagram(flow)) if flow.get("available") else "",
        "flow_rows": _flow_rows(report),
        "inline": _inline_cells(report),
        "reliability_rows": _reliability(report),
        "model_rows": _models_table(report),
        "orr_svg": mark_safe(svg.orr_perception_chart(table, scale_ranges=ranges))
        if table.get("available") and table["perceived_scales"] else "",
        "distribution_svg": mark_safe(svg.distribution_chart(report["distributions"], scales=scales))
        if report["distributions"].get("available") else "",
        "fits": [_fit(report, i, fit) for i, fit in enumerate(report["fits"])],
        "pairwise": _pairwise(report),
        "correlation_rows": _correlations(report),
    }
