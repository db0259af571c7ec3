"""Ordinal robustness check for Likert outcomes.

A 1-7 rating is ordinal; the linear mixed model treats it as interval. ``fit_ordinal`` fits a
proportional-odds (cumulative logit) model, statsmodels' ``OrderedModel``, on the *fixed* part
of the same formula. Random effects are dropped (statsmodels has no mixed ordinal model);
instead the standard errors are cluster-robust by the first grouping factor (participants, when
the formula lists them first), which protects against the within-rater dependence the random
intercept would model. ``compare_linear_ordinal`` then lines the two fits up term by term and
returns the terms where the sign or the significance at 0.05 disagree. Coefficients are on different scales
(rating points vs log-odds); only signs and p-values are compared.
"""

from __future__ import annotations

import dataclasses
import time
import warnings as _warnings
from typing import Any

import numpy as np
import pandas as pd

from .design import build_design
from .formula import parse_formula
from .result import clean, fixed_table

__all__ = ["compare_linear_ordinal", "fit_ordinal"]


def fit_ordinal(data: pd.DataFrame, formula: str, *, alpha: float = 0.05) -> dict[str, Any]:
    """Cumulative-logit model of the formula's fixed part; random terms give the clusters.

    Returns ``formula, outcome, engine, link, n_obs, levels, fixed[{term, estimate, se, z, p,
    ci_low, ci_high}]`` (log-odds, no intercept: the thresholds absorb it), ``thresholds``,
    ``loglik, converged, cov_type, cluster, warnings, seconds``. A positive estimate means
    higher ratings, as in the linear model.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    started = time.perf_counter()
    spec = parse_formula(formula)
    # Keep the grouping columns in the spec so NA rows are dropped exactly as fit_lmm drops
    # them; the random terms themselves are not modelled.
    design = build_design(data, spec)
    warns = list(design.warnings)
    keep = [j for j, name in enumerate(design.names) if name != "(Intercept)"]
    names = [design.names[j] for j in keep]
    if not names:
        raise ValueError("the ordinal check needs at least one fixed-effect predictor")
    X = pd.DataFrame(design.X[:, keep], columns=names)
    levels = np.unique(design.y)
    if len(levels) < 3:
        raise ValueError("the ordinal model needs an outcome with at least three levels")
    y = pd.Series(pd.Categorical(design.y, categories=levels, ordered=True))
    model = OrderedModel(y, X, distr="logit")
    cluster = spec.random[0].name if spec.random else None
    fit_kw: dict[str, Any] = {"method": "bfgs", "disp": False, "maxiter": 2000}
    cov_type = "nonrobust"
    if cluster is not None:
        fit_kw.update(cov_type="cluster", cov_kwds={"groups": design.groups[cluster]})
        cov_type = "cluster"
    else:
        warns.append("no grouping factor in the formula: plain (non-robust) standard errors")
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        res = model.fit(**fit_kw)
    warns += sorted({str(w.message).splitlines()[0] for w in caught})
    if spec.random:
        dropped = ", ".join(f"(1|{r.name})" if r.intercept_only else f"(...|{r.name})"
                            for r in spec.random)
        warns.append(f"random effects {dropped} dropped in the ordinal model; standard errors "
                     f"are cluster-robust by '{cluster}'")
    params = np.asarray(res.params)
    bse = np.asarray(res.bse)
    k = len(names)
    converged = bool(res.mle_retvals.get("converged", True))
    if not converged:
        warns.append("the ordinal model's optimiser did not converge")
    return clean({
        "formula": spec.formula,
        "outcome": spec.outcome,
        "engine": "statsmodels-OrderedModel",
        "link": "logit",
        "n_obs": len(y),
        "levels": levels.tolist(),
        "fixed": fixed_table(names, params[:k], bse[:k]),
        "thresholds": model.transform_threshold_params(params).tolist()[1:-1],
        "loglik": float(res.llf),
        "converged": converged,
        "cov_type": cov_type,
        "cluster": cluster,
        "alpha": alpha,
        "warnings": warns,
        "seconds": time.perf_counter() - started,
    })


@dataclasses.dataclass(frozen=True)
class _Term:
    estimate: float
    p: float


def compare_linear_ordinal(
    lin: dict[str, Any], ordl: dict[str, Any], *, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """The terms on which the two fits disagree, in the linear model's order.

    A term present in both fits (the intercept excluded) is returned when the signs differ or
    when one model calls it significant (p < alpha) and the other does not. Each row: ``term,
    linear_estimate, linear_p, ordinal_estimate, ordinal_p, sign_agrees,
    significance_agrees, reason``. An empty list means the ordinal check agrees everywhere.
    """
    def terms(fit: dict[str, Any]) -> dict[str, _Term]:
        return {
            row["term"]: _Term(float(row["estimate"]), float(row["p"]))
            for row in fit.get("fixed", [])
            if row["term"] != "(Intercept)" and row.get("p") is not None
        }

    a, b = terms(lin), terms(ordl)
    rows = []
    for name, t in a.items():
        if name not in b:
            continue
        o = b[name]
        sign_ok = np.sign(t.estimate) == np.sign(o.estimate)
        sig_ok = (t.p < alpha) == (o.p < alpha)
        reasons = []
        if not sign_ok:
            reasons.append("sign differs")
        if not sig_ok:
            which = "linear" if t.p < alpha else "ordinal"
            reasons.append(f"significant at {alpha} only in the {which} model")
        if sign_ok and sig_ok:
            continue
        rows.append({
            "term": name,
            "linear_estimate": t.estimate,
            "linear_p": t.p,
            "ordinal_estimate": o.estimate,
            "ordinal_p": o.p,
            "sign_agrees": bool(sign_ok),
            "significance_agrees": bool(sig_ok),
            "reason": "; ".join(reasons),
        })
    return rows
