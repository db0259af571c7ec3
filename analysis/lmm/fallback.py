"""Random slopes through statsmodels' MixedLM (the PLS engine handles intercepts only).

* One random term ``(1 + x | g)``: MixedLM with groups ``g`` and a random-effects design
  ``[1, x]``, correlated (``|``) or with a diagonal covariance (``||``), as lme4.
* Several grouping factors: MixedLM cannot cross random-effect *matrices*, so the whole data
  is one group and every intercept and slope becomes an independent variance component; slope
  correlations are then not estimated (said in ``warnings``). That formulation is dense in the
  number of observations times levels, so it is refused beyond a size statsmodels can fit.

statsmodels is imported here, inside the function, so importing ``analysis.lmm`` stays light.
"""

from __future__ import annotations

import warnings as _warnings
from typing import Any

import numpy as np

from .design import Design, _fixed_matrix
from .formula import ModelSpec, RandomTerm
from .optimize import SINGULAR_TOL
from .result import fixed_table

__all__ = ["fit_statsmodels"]

_SLOPES_NOTE = (
    "random slopes: fitted with statsmodels MixedLM (engine 'statsmodels'), not the "
    "lme4-equivalent PLS engine; estimates agree with lme4 only to optimiser accuracy"
)

# statsmodels handles the crossed formulation as one group with n x n algebra: 600 rows
# took ~10 s, and the cost grows with the cube of the rows.
_MAX_CROSSED_ROWS = 1000


def _re_matrix(design: Design, term: RandomTerm) -> tuple[np.ndarray, list[str]]:
    sub = ModelSpec(
        formula="", outcome="", intercept=term.intercept,
        terms=tuple(tuple(s.split(":")) for s in term.slopes), random=(),
    )
    return _fixed_matrix(design.frame, sub)


def fit_statsmodels(spec: ModelSpec, design: Design, *, reml: bool) -> dict[str, Any]:
    """Fit with MixedLM; returns the engine-specific part of :func:`fit_lmm`'s result."""
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

    y, X = design.y, design.X
    n, p = X.shape
    notes = [_SLOPES_NOTE]
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        if len(spec.random) == 1:
            term = spec.random[0]
            Z, re_names = _re_matrix(design, term)
            model = MixedLM(y, X, groups=design.groups[term.name], exog_re=Z)
            free = None
            if not term.correlated and Z.shape[1] > 1:
                free = MixedLMParams.from_components(np.ones(p), np.eye(Z.shape[1]))
            res = model.fit(reml=reml, free=free)
            cov = np.asarray(res.cov_re)
            components = [
                (term.name, name, float(cov[i, i])) for i, name in enumerate(re_names)
            ]
            k_cov = Z.shape[1] * (Z.shape[1] + 1) // 2 if free is None else Z.shape[1]
            corr = _correlations(term.name, re_names, cov) if free is None else []
        else:
            if n > _MAX_CROSSED_ROWS:
                raise ValueError(
                    "crossed random slopes are fitted by statsmodels as one dense group, which "
                    f"is feasible up to {_MAX_CROSSED_ROWS} rows (this data has {n}). Use "
                    "random intercepts only, or one grouping factor with slopes."
                )
            names, colnames, mats = [], [], []
            labels = []
            for term in spec.random:
                Z, re_names = _re_matrix(design, term)
                codes = design.groups[term.name]
                q = design.n_levels[term.name]
                for j, name in enumerate(re_names):
                    mat = np.zeros((n, q))
                    mat[np.arange(n), codes] = Z[:, j]
                    key = f"{term.name}|{name}"
                    names.append(key)
                    colnames.append([[f"{key}[{i}]" for i in range(q)]])
                    mats.append([mat])
                    labels.append((term.name, name, key))
            vc = VCSpec(names, colnames, mats)
            model = MixedLM(y, X, groups=np.zeros(n), exog_vc=vc)
            res = model.fit(reml=reml)
            vcomp = dict(zip(model.exog_vc.names, np.asarray(res.vcomp)))
            components = [(g, name, float(vcomp[key])) for g, name, key in labels]
            k_cov = len(labels)
            corr = []
            notes.append("several grouping factors with slopes: each intercept and slope is an "
                         "independent variance component (correlations not estimated)")
    notes += sorted({f"statsmodels: {str(w.message).splitlines()[0]}" for w in caught})

    sigma2 = float(res.scale)
    beta = np.asarray(res.fe_params, dtype=float)
    se = np.asarray(res.bse_fe, dtype=float)
    random: dict[str, float] = {}
    for g, name, var in components:
        random[g if name == "(Intercept)" else f"{g}|{name}"] = var
    singular = any(var / sigma2 < SINGULAR_TOL**2 for _, _, var in components)
    converged = bool(res.converged)
    if singular:
        notes.append("boundary (singular) fit: a random-effect variance is (near) zero")
    r2m, r2c = _r2(design, spec, X @ beta, components, res, sigma2)
    loglik = float(res.llf)
    n_par = p + k_cov + 1
    return {
        "fixed": fixed_table(design.names, beta, se),
        "random": random,
        "random_terms": [{"group": g, "term": t, "variance": v} for g, t, v in components],
        "random_correlations": corr,
        "residual_variance": sigma2,
        "loglik": loglik,
        "deviance": -2.0 * loglik,
        "aic": -2.0 * loglik + 2.0 * n_par,
        "bic": -2.0 * loglik + np.log(n) * n_par,
        "converged": converged,
        "singular": singular,
        "r2_marginal": r2m,
        "r2_conditional": r2c,
        "warnings": notes,
        "engine": "statsmodels",
    }


def _correlations(group: str, names: list[str], cov: np.ndarray) -> list[dict[str, Any]]:
    out = []
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    for i in range(len(names)):
        for j in range(i):
            r = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else float("nan")
            out.append({"group": group, "terms": [names[j], names[i]], "correlation": r})
    return out


def _r2(design, spec, fitted, components, res, sigma2):
    """Nakagawa & Schielzeth R² with Johnson's (2014) extension to random slopes.

    A random slope's contribution is the mean over observations of z_i' Sigma z_i, which for
    an intercept alone is its variance.
    """
    from .result import r2_nakagawa

    var_random = []
    if len(spec.random) == 1:
        Z, _ = _re_matrix(design, spec.random[0])
        cov = np.asarray(res.cov_re)
        var_random.append(float(np.mean(np.einsum("ij,jk,ik->i", Z, cov, Z))))
    else:
        for term in spec.random:
            Z, names = _re_matrix(design, term)
            for j, name in enumerate(names):
                var = next(v for g, t, v in components if g == term.name and t == name)
                var_random.append(float(np.mean(Z[:, j] ** 2)) * var)
    return r2_nakagawa(fitted, var_random, sigma2)
