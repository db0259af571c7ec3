"""``build_report``: the analysis result reshaped once into the report's single source of truth.

The report is plain JSON data: every row a table or figure shows is computed here, so that the
HTML (rendered from this dict, never from the analysis result) and the JSON cannot disagree.
Sections the data do not allow carry ``available: False`` and a ``reason``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..exclusions import REASONS
from ..metrics import to_jsonable
from .fits import fit_section
from .methods import methods_paragraphs

SCHEMA = "rpl-report/1"
#: Keys whose values differ between two builds of the same data (timings, clock).
VOLATILE_KEYS = ("generated_at", "analysis_seconds")

REASON_LABELS = {
    "incomplete": "did not complete the session",
    "attention": "failed attention checks",
    "speeding": "speeding",
    "straightlining": "straight-lining",
}


def is_report(data: dict[str, Any]) -> bool:
    """True for a built report, False for an ``analyze`` result."""
    return str(data.get("schema", "")).startswith("rpl-report/")


def _unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def _study(result: dict[str, Any]) -> dict[str, Any]:
    study = dict(result.get("study") or {})
    return {
        "slug": study.get("slug"),
        "title": study.get("title") or study.get("slug") or "Analysis of tidy rating files",
        "status": study.get("status"),
        "design": study.get("design") or {},
        "scales": list(study.get("scales") or []),
    }


def _rule_text(rules: dict[str, Any]) -> dict[str, str]:
    out = {"incomplete": "sessions not completed" if rules.get("require_complete") else ""}
    if rules.get("attention_failures_max") is not None:
        out["attention"] = f"more than {rules['attention_failures_max']} attention check(s) failed"
    if rules.get("min_median_seconds") is not None:
        out["speeding"] = f"median time per item below {rules['min_median_seconds']} s"
    if rules.get("straightline_run") is not None:
        out["straightlining"] = (
            f"{rules['straightline_run']} or more identical consecutive answers on one scale"
        )
    return out


def _flow(result: dict[str, Any], fits: list[dict[str, Any]]) -> dict[str, Any]:
    flow = result.get("flow")
    if not flow:
        return _unavailable("no participant flow: the analysis ran on files without participants")
    rules = flow.get("rules") or {}
    rule_text = _rule_text(rules)
    first = flow.get("excluded_first_reason") or {}
    any_reason = flow.get("excluded_by_reason") or {}
    exclusions = [
        {
            "reason": reason,
            "label": REASON_LABELS[reason],
            "rule": rule_text.get(reason, ""),
            "active": bool(rule_text.get(reason)),
            "n_first": first.get(reason, 0),
            "n_any": any_reason.get(reason, 0),
        }
        for reason in REASONS
    ]
    consented, completed = flow.get("consented", 0), flow.get("completed")
    # With require_complete, "did not complete" is its own step and the exclusion box after
    # "completed" lists the other reasons; the counts then add up box by box.
    split_incomplete = bool(rules.get("require_complete")) and completed is not None
    after = [e for e in exclusions if not (split_incomplete and e["reason"] == "incomplete")]
    chain = [
        {"key": "entered", "label": "Entered the study", "n": flow.get("entered", 0),
         "side": {"label": "Declined consent", "n": flow.get("not_consented", 0), "lines": []}},
        {"key": "consented", "label": "Consented", "n": consented, "side": None},
    ]
    excluded_box = {
        "label": "Excluded by pre-registered rules",
        "n": flow.get("excluded", 0) - (first.get("incomplete", 0) if split_incomplete else 0),
        "lines": [{"label": e["label"], "n": e["n_first"]} for e in after if e["active"]],
    }
    if split_incomplete:
        chain[1]["side"] = {"label": "Did not complete", "n": consented - completed, "lines": []}
        chain.append({"key": "completed", "label": "Completed", "n": completed, "side": None})
    chain[-1]["side"] = excluded_box
    chain.append({"key": "analysed", "label": "Analysed", "n": flow.get("analysed", 0), "side": None})
    in_models = max(
        (g["n"] for f in fits if f["ok"] for g in f["groups"] if g["group"] == "participant"),
        default=None,
    )
    return {
        "available": True,
        **{k: flow.get(k) for k in ("entered", "consented", "not_consented", "completed",
                                     "excluded", "analysed")},
        "chain": chain,
        "exclusions": exclusions,
        "rules": rules,
        "participants_in_models": in_models,
    }


def _reliability(result: dict[str, Any]) -> dict[str, Any]:
    rel = result.get("reliability")
    if not rel or not rel.get("scales"):
        return _unavailable("no reliability estimates in this analysis")
    scales = []
    for row in rel["scales"]:
        icc = row.get("icc") or {}
        scales.append(
            {
                **{k: row.get(k) for k in ("scale", "alpha", "ci_low", "ci_high", "n_items",
                                           "n_raters", "n_values", "n_boot_valid", "note")},
                "icc_status": icc.get("status", "not_possible"),
                "icc_reason": icc.get("reason") or "",
                "icc_design": icc.get("design"),
                "icc": [
                    {k: e.get(k) for k in ("type", "icc", "ci_low", "ci_high", "p")}
                    for e in icc.get("estimates") or []
                ],
            }
        )
    return {"available": True, "level": rel.get("level"), "n_boot": rel.get("n_boot"),
            "seed": rel.get("seed"), "bootstrap": rel.get("bootstrap"), "scales": scales}


def _rate(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    return {k: row.get(k) for k in ("value", "ci_low", "ci_high", "k", "n")}


def _models_table(result: dict[str, Any]) -> dict[str, Any]:
    metrics = (result.get("automated_metrics") or {}).get("metrics") or []
    perceived = (result.get("perception") or {}).get("by_model") or []
    if not metrics and not perceived:
        return _unavailable("neither automated metrics nor perception data in this analysis")
    by_model: dict[str, dict[str, Any]] = {}
    for row in metrics:
        by_model.setdefault(str(row["model"]), {})[row["metric"]] = row
    scales = list(dict.fromkeys(str(r["scale"]) for r in perceived))
    means = {(str(r["model"]), str(r["scale"])): r for r in perceived}
    models = sorted(set(by_model) | {str(r["model"]) for r in perceived})
    rows = []
    for model in models:
        rows.append(
            {
                "model": model,
                "orr": _rate(by_model.get(model, {}).get("orr")),
                "cr": _rate(by_model.get(model, {}).get("cr")),
                "trr": _rate(by_model.get(model, {}).get("trr")),
                "perceived": [
                    {"scale": s, **{k: means.get((model, s), {}).get(k) for k in
                                    ("mean", "ci_low", "ci_high", "n_participants", "n_ratings")}}
                    for s in scales
                ],
            }
        )
    return {"available": True, "perceived_scales": scales, "rows": rows,
            "interval": (result.get("perception") or {}).get("interval")}


def _pairwise(result: dict[str, Any]) -> dict[str, Any]:
    pw = result.get("pairwise")
    if not pw:
        return _unavailable("no A/B comparisons in this analysis")
    keep = ("model", "log_strength", "ci_low", "ci_high", "strength", "wins", "losses", "ties",
            "n", "rank", "identifiable", "converged", "n_boot_valid")
    bt = pw.get("bradley_terry") or {}
    half = [{k: r.get(k) for k in keep} for r in bt.get("ties_half") or []]
    return {
        "available": True,
        "n_comparisons": pw.get("n_comparisons"),
        "n_participants": pw.get("n_participants"),
        "bootstrap": pw.get("bootstrap") or {},
        "identifiable": all(r.get("identifiable") for r in half) if half else False,
        "bradley_terry": half,
        "bradley_terry_ties_excluded": [{k: r.get(k) for k in keep}
                                        for r in bt.get("ties_excluded") or []],
        "position_bias": pw.get("position_bias") or {},
        "ranking_agreement": pw.get("ranking_agreement"),
    }


def _distributions(result: dict[str, Any]) -> dict[str, Any]:
    dist = result.get("distributions")
    if not dist or not dist.get("scales"):
        return _unavailable("this analysis result carries no per-value rating counts")
    order = {s["key"]: i for i, s in enumerate((result.get("study") or {}).get("scales") or [])}
    scales = []
    for scale in sorted(dist["scales"], key=lambda s: (order.get(s["scale"], len(order)), s["scale"])):
        models = []
        for m in scale["models"]:
            n = m["n"] or 0
            models.append({**m, "shares": [c / n if n else None for c in m["counts"]]})
        scales.append({**scale, "models": models})
    return {"available": True, "scales": scales}


def _perception(result: dict[str, Any]) -> dict[str, Any]:
    perception = result.get("perception")
    if not perception:
        return _unavailable("no perception data")
    n_models = [r.get("n") or 0 for r in perception.get("correlations") or []]
    note = ""
    if n_models and min(n_models) < 5:
        # SciPy's asymptotic p for a perfect rank correlation of 3 points is 0; the exact
        # permutation p is 1/3. With so few models no p value here means much.
        note = (
            f"With {min(n_models)} models these correlations only describe the models in this "
            "study; their p values (asymptotic, from SciPy) are not meaningful."
        )
    return {**perception, "available": True, "note": note}


def _data_dictionary() -> list[dict[str, Any]]:
    try:
        from ..dataset import COLUMN_DESCRIPTIONS
    except Exception:
        return []
    return [
        {"file": name, "columns": [{"name": c, "description": d} for c, d in columns.items()]}
        for name, columns in COLUMN_DESCRIPTIONS.items()
    ]


def build_report(result: dict[str, Any]) -> dict[str, Any]:
    """The report dict (JSON-serialisable) from an ``analyze`` result; idempotent on a report."""
    if is_report(result):
        return result
    fits = [fit_section(i, fit) for i, fit in enumerate(result.get("models") or [])]
    meta = dict(result.get("meta") or {})
    data = dict(result.get("data") or {})
    pairwise = _pairwise(result)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "study": _study(result),
        "data": data,
        "flow": _flow(result, fits),
        "reliability": _reliability(result),
        "models_table": _models_table(result),
        "automated_metrics": result.get("automated_metrics") or _unavailable("no responses"),
        "perception": _perception(result),
        "distributions": _distributions(result),
        "fits": fits,
        "pairwise": pairwise,
        "data_dictionary": _data_dictionary(),
        "meta": {
            "method": meta.get("method"),
            "formulas": meta.get("formulas") or [f["formula"] for f in fits],
            "include_excluded": meta.get("include_excluded", data.get("include_excluded")),
            "seed": meta.get("seed"),
            "n_boot": meta.get("n_boot"),
            "software": meta.get("software") or {},
            "analysis_seconds": meta.get("seconds"),
        },
    }
    report["methods"] = methods_paragraphs(report)
    return to_jsonable(report)
