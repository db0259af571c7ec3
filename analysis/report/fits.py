"""Mixed-model fits laid out as lme4's ``summary()`` prints them, as plain report rows.

Each ``analyze`` fit becomes one dict: the REML criterion (or logLik/AIC/BIC/deviance for ML),
the random-effects table (Variance and Std.Dev., residual last), the number of observations and
groups, the fixed effects (Estimate, Std. Error, t value, plus the Wald p and 95 % interval the
pipeline computes), convergence and singular-fit notes, and the ordinal robustness check lined up
term by term. A fit that failed keeps its formula and error and nothing else.
"""

from __future__ import annotations

import math
from typing import Any

ENGINE_LABELS = {
    "pls-sparse": "lme4's profiled penalised least squares (crossed random intercepts), "
    "reimplemented in Python",
    "statsmodels": "statsmodels MixedLM (random slopes; not lme4's algorithm)",
}


def _sqrt(value: Any) -> float | None:
    if value is None or not isinstance(value, (int, float)) or value < 0:
        return None
    return math.sqrt(value)


def _random_rows(fit: dict[str, Any]) -> list[dict[str, Any]]:
    terms = fit.get("random_terms")
    if not terms:  # older results: only {group: variance}, slopes as "g|x" keys
        terms = []
        for key, variance in (fit.get("random") or {}).items():
            group, _, slope = key.partition("|")
            terms.append({"group": group, "term": slope or "(Intercept)", "variance": variance})
    n_groups = fit.get("n_groups") or {}
    # lme4 lists grouping factors by decreasing number of levels; stable within a group
    ordered = sorted(
        enumerate(terms), key=lambda pair: (-(n_groups.get(pair[1]["group"]) or 0), pair[0])
    )
    rows = [
        {
            "group": term["group"],
            "term": term.get("term") or "(Intercept)",
            "variance": term.get("variance"),
            "sd": _sqrt(term.get("variance")),
        }
        for _, term in ordered
    ]
    residual = fit.get("residual_variance")
    rows.append({"group": "Residual", "term": "", "variance": residual, "sd": _sqrt(residual)})
    return rows


def _fixed_rows(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "term": row.get("term"),
            "estimate": row.get("estimate"),
            "se": row.get("se"),
            # lme4 calls estimate / SE the "t value"; the p beside it is the Wald z test
            "t": row.get("z") if row.get("z") is not None else row.get("t"),
            "p": row.get("p"),
            "ci_low": row.get("ci_low"),
            "ci_high": row.get("ci_high"),
        }
        for row in rows or []
    ]


def _notes(fit: dict[str, Any]) -> list[str]:
    notes = []
    if fit.get("converged") is False:
        notes.append("The optimiser did not report convergence: treat these estimates with care.")
    if fit.get("singular"):
        zero = [r["group"] for r in _random_rows(fit)[:-1] if (r["variance"] or 0) < 1e-8]
        which = f" ({', '.join(zero)})" if zero else ""
        notes.append(
            f"Boundary (singular) fit: a random-effect variance{which} is estimated as (near) "
            "zero, as lme4's isSingular() would report."
        )
    notes += [w for w in fit.get("warnings") or [] if "singular" not in w.lower()]
    return notes


def _ordinal(fit: dict[str, Any]) -> dict[str, Any]:
    ordinal = fit.get("ordinal")
    if not ordinal:
        return {"available": False, "error": "no ordinal model in this analysis result"}
    if ordinal.get("error"):
        return {"available": False, "error": ordinal["error"]}
    return {
        "available": True,
        "error": None,
        "engine": ordinal.get("engine"),
        "link": ordinal.get("link"),
        "cov_type": ordinal.get("cov_type"),
        "cluster": ordinal.get("cluster"),
        "n_obs": ordinal.get("n_obs"),
        "converged": ordinal.get("converged"),
        "loglik": ordinal.get("loglik"),
        "fixed": _fixed_rows(ordinal.get("fixed")),
        "thresholds": list(ordinal.get("thresholds") or []),
        "warnings": list(ordinal.get("warnings") or []),
    }


def _comparison(fit: dict[str, Any]) -> list[dict[str, Any]]:
    """Every term of both fits side by side, flagged where ``ordinal_disagreements`` says.

    The pipeline's list has had two shapes (every term with ``flagged``, or only the
    disagreeing terms); either way the report shows every term, so that "agree" is visible too.
    """
    ordinal = fit.get("ordinal") or {}
    ordinal_rows = {r["term"]: r for r in ordinal.get("fixed") or []}
    verdicts = {
        r["term"]: r for r in fit.get("ordinal_disagreements") or [] if r.get("flagged", True)
    }
    rows = []
    for row in fit.get("fixed") or []:
        term = row.get("term")
        if term == "(Intercept)" or term not in ordinal_rows:
            continue
        verdict = verdicts.get(term)
        rows.append(
            {
                "term": term,
                "linear_estimate": row.get("estimate"),
                "linear_p": row.get("p"),
                "ordinal_estimate": ordinal_rows[term].get("estimate"),
                "ordinal_p": ordinal_rows[term].get("p"),
                "flagged": verdict is not None,
                "reason": (verdict or {}).get("reason") or "",
            }
        )
    return rows


def fit_section(index: int, fit: dict[str, Any]) -> dict[str, Any]:
    """One fit of ``result["models"]`` as the report shows it (see the module docstring)."""
    base = {
        "index": index,
        "formula": fit.get("formula"),
        "outcome": fit.get("outcome") or str(fit.get("formula", "")).split("~", 1)[0].strip(),
        "method": fit.get("method"),
    }
    if fit.get("error"):
        return {**base, "ok": False, "error": str(fit["error"])}
    reml = fit.get("method") == "REML"
    deviance = fit.get("deviance")
    if deviance is None and fit.get("loglik") is not None:
        deviance = -2 * fit["loglik"]
    groups = sorted((fit.get("n_groups") or {}).items(), key=lambda kv: -kv[1])
    comparison = _comparison(fit)
    engine = fit.get("engine")
    return {
        **base,
        "ok": True,
        "error": None,
        "criterion_label": "REML criterion at convergence" if reml else "deviance",
        "criterion": deviance,
        "loglik": fit.get("loglik"),
        "aic": fit.get("aic"),
        "bic": fit.get("bic"),
        "n_obs": fit.get("n_obs"),
        "groups": [{"group": g, "n": n} for g, n in groups],
        "random": _random_rows(fit),
        "fixed": _fixed_rows(fit.get("fixed")),
        "converged": fit.get("converged"),
        "singular": fit.get("singular"),
        "r2_marginal": fit.get("r2_marginal"),
        "r2_conditional": fit.get("r2_conditional"),
        "engine": engine,
        "engine_label": ENGINE_LABELS.get(engine, engine or "unknown"),
        "notes": _notes(fit),
        "ordinal": _ordinal(fit),
        "comparison": comparison,
        "n_flagged": sum(1 for row in comparison if row.get("flagged")),
    }
