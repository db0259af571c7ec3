"""One analysis run: tidy frames in, the ``analyze`` result out (a JSON-serialisable dict).

Pure: takes DataFrames (from CSV files or from analysis.dataset) and returns plain data, so
the CLI, the admin, the API and the report all show the same numbers. Heavy libraries are
imported by the functions that need them.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

REQUIRED_RATING_COLUMNS = ("participant", "item", "scale", "value")
DEFAULT_SCALES = ("helpfulness", "frustration")
FEW_MODELS = 10  # below this, a model-level predictor's SE needs (1|model)


class AnalysisInputError(ValueError):
    """The input files cannot be analysed as asked (missing columns, unknown scale …)."""


def _flag(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin(["1", "1.0", "true", "yes"])


def select_rows(ratings: pd.DataFrame, *, include_excluded: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Leave out excluded participants' rows and attention-check rows (unless asked not to),
    and say how many rows went and why."""
    missing = [c for c in REQUIRED_RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise AnalysisInputError(f"ratings lack required column(s): {', '.join(missing)}")
    attention = _flag(ratings["attention_check"]) if "attention_check" in ratings else pd.Series(False, index=ratings.index)
    excluded = _flag(ratings["excluded"]) if "excluded" in ratings else pd.Series(False, index=ratings.index)
    summary = {
        "rows_in": len(ratings),
        "include_excluded": include_excluded,
        "left_out": {"attention_check": 0, "excluded_participant": 0},
    }
    if include_excluded:
        summary["rows_used"] = len(ratings)
        return ratings, summary
    summary["left_out"]["attention_check"] = int(attention.sum())
    summary["left_out"]["excluded_participant"] = int((excluded & ~attention).sum())
    if "exclusion_reason" in ratings:
        reasons = ratings.loc[excluded & ~attention, "exclusion_reason"].fillna("").astype(str)
        summary["left_out_by_reason"] = {
            reason: int(n) for reason, n in reasons.str.split(";").explode().value_counts().items() if reason
        }
    kept = ratings[~attention & ~excluded]
    summary["rows_used"] = len(kept)
    return kept, summary


def wide_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per participant × item, a column per scale, plus the item-level columns."""
    frame = ratings.copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    keys = ["participant", "item"]
    wide = frame.pivot_table(index=keys, columns="scale", values="value", aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    other = frame.drop(columns=["scale", "value"]).drop_duplicates(keys).set_index(keys)
    clash = [c for c in wide.columns if c in other.columns]
    other = other.drop(columns=clash)
    return other.join(wide).reset_index()


def default_formulas(ratings: pd.DataFrame) -> list[str]:
    """The house formula for each default scale present, trimmed to the columns present.

    With fewer than ten models, ``(1|model)`` joins the random part so that ``model_orr``'s
    standard error accounts for there being only that many models.
    """
    scales = [s for s in DEFAULT_SCALES if s in set(ratings["scale"].astype(str))]
    if not scales:
        scales = sorted(set(ratings["scale"].astype(str)))[:2]
    columns = set(ratings.columns)
    fixed: list[str] = []
    if {"refused", "should_refuse"} <= columns:
        fixed.append("refused * should_refuse")
    elif "refused" in columns:
        fixed.append("refused")
    if "model_orr" in columns and ratings["model_orr"].notna().any():
        fixed.append("model_orr")
    random = ["(1|participant)", "(1|prompt)" if "prompt" in columns else "(1|item)"]
    if "model" in columns and 1 < ratings["model"].nunique() < FEW_MODELS and "model_orr" in fixed:
        random.append("(1|model)")
    rhs = " + ".join((fixed or ["1"]) + random)
    return [f"{scale} ~ {rhs}" for scale in scales]


def _fit_one(data: pd.DataFrame, formula: str, method: str) -> dict[str, Any]:
    from .lmm import compare_linear_ordinal, fit_lmm, fit_ordinal

    try:
        fit = fit_lmm(data, formula, method=method)
    except ValueError as exc:
        return {"formula": formula, "method": method, "error": str(exc)}
    _warn_model_level_se(fit, data)
    try:
        ordinal = fit_ordinal(data, formula)
        fit["ordinal"] = ordinal
        fit["ordinal_disagreements"] = compare_linear_ordinal(fit, ordinal)
    except (ValueError, ArithmeticError) as exc:
        fit["ordinal"] = {"error": str(exc)}
        fit["ordinal_disagreements"] = []
    return fit


def _warn_model_level_se(fit: dict[str, Any], data: pd.DataFrame) -> None:
    """(1|model) is there to keep model_orr's SE honest; with a handful of models it is often
    estimated at zero, and then it protects nothing: say so beside the estimate."""
    variance = (fit.get("random") or {}).get("model")
    residual = fit.get("residual_variance") or 0.0
    terms = {row["term"] for row in fit.get("fixed", [])}
    if variance is None or "model_orr" not in terms or variance > 1e-6 * max(residual, 1e-12):
        return
    n_models = fit.get("n_groups", {}).get("model", data["model"].nunique() if "model" in data else 0)
    fit.setdefault("warnings", []).append(
        f"(1|model) was estimated at zero variance with {n_models} models, so the standard error "
        "of model_orr is as anti-conservative as without it; with this few models, read its "
        "p-value and CI as descriptive only."
    )


def responses_from_ratings(ratings: pd.DataFrame) -> pd.DataFrame | None:
    """The responses behind a ratings file, one row each, when the file names them."""
    need = {"model", "should_refuse", "refusal_label"}
    if not need <= set(ratings.columns):
        return None
    key = "response" if "response" in ratings.columns else None
    frame = ratings.dropna(subset=["model"])
    frame = frame.drop_duplicates(key) if key else frame.drop_duplicates(["model", "prompt"] if "prompt" in frame else ["model", "item"])
    cols = [c for c in ("model", "should_refuse", "refusal_label", "refusal_score", "prompt_category", "domain") if c in frame]
    return frame[cols].reset_index(drop=True)


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "pandas", "statsmodels", "pingouin", "krippendorff", "django"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return versions


def run_analysis(
    ratings: pd.DataFrame,
    *,
    comparisons: pd.DataFrame | None = None,
    responses: pd.DataFrame | None = None,
    flow: dict[str, Any] | None = None,
    formulas: Sequence[str] | None = None,
    method: str = "REML",
    include_excluded: bool = False,
    seed: int = 0,
    n_boot: int = 1000,
    study: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``analyze`` reports, as one dict with the house-plan keys.

    ``models`` (one fit per formula, each with its ordinal companion), ``flow``,
    ``reliability``, ``automated_metrics``, ``pairwise``, ``perception`` where the data allow
    them, plus ``data`` (rows used and left out) and ``meta`` (parameters, seed, versions).
    """
    from .metrics import automated_metrics_report, model_orr_map, to_jsonable

    started = time.perf_counter()
    method = method.upper()
    if method not in ("REML", "ML"):
        raise AnalysisInputError("method must be REML or ML")
    kept, data_summary = select_rows(ratings, include_excluded=include_excluded)
    if kept.empty:
        raise AnalysisInputError("no ratings left to analyse after exclusions")
    formulas = list(formulas) if formulas else default_formulas(kept)
    wide = wide_ratings(kept)
    known_scales = set(kept["scale"].astype(str))
    for formula in formulas:
        outcome = formula.split("~", 1)[0].strip()
        if outcome not in known_scales and outcome not in wide.columns:
            raise AnalysisInputError(
                f"formula outcome '{outcome}' is not a scale in the ratings ({', '.join(sorted(known_scales))})"
            )
    result: dict[str, Any] = {
        "study": study,
        "data": data_summary,
        "models": [_fit_one(wide, f, method) for f in formulas],
    }
    if flow is not None:
        result["flow"] = flow

    from .reliability import reliability_report

    result["reliability"] = reliability_report(kept[~kept.get("item_kind", pd.Series("", index=kept.index)).astype(str).eq("pair")], n_boot=n_boot, seed=seed)

    responses = responses if responses is not None else responses_from_ratings(ratings)
    orr: dict[str, float | None] | None = None
    if responses is not None and len(responses):
        result["automated_metrics"] = automated_metrics_report(responses)
        orr = model_orr_map(responses)

    if comparisons is not None and len(comparisons):
        from .pairwise import pairwise_summary

        pairs = comparisons
        if not include_excluded and "excluded" in pairs:
            pairs = pairs[~_flag(pairs["excluded"])]
        if len(pairs):
            result["pairwise"] = pairwise_summary(pairs, model_orr=orr, n_boot=n_boot, seed=seed)

    try:
        from .perception import perception_report
    except ImportError:  # pragma: no cover - module arrives with the perception analysis
        perception_report = None
    if perception_report is not None and "model" in kept:
        result["perception"] = perception_report(kept, model_orr=orr)

    from .report.distributions import rating_distributions

    result["distributions"] = rating_distributions(kept)
    result["meta"] = {
        "method": method,
        "formulas": formulas,
        "include_excluded": include_excluded,
        "seed": seed,
        "n_boot": n_boot,
        "software": software_versions(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return to_jsonable(result)
