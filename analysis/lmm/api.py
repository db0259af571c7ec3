"""``fit_lmm``: one entry point, two engines.

Random-intercept models (any number of crossed ``(1|g)`` terms) go to the PLS engine in
:mod:`.pls`, which reproduces lme4. Random slopes go to statsmodels' MixedLM
(:mod:`.fallback`), which says so in ``engine`` and ``warnings``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .design import Design, build_design
from .formula import ModelSpec, parse_formula
from .optimize import SINGULAR_TOL, moment_start, optimize_theta
from .pls import CrossedInterceptsPLS
from .result import clean, fixed_table, r2_nakagawa

__all__ = ["fit_lmm"]

# Below this many cells in the reduced system a second start (theta = 1, lme4's) is cheap.
_SMALL_PROBLEM = 200_000


def fit_lmm(data: pd.DataFrame, formula: str, *, method: str = "REML") -> dict[str, Any]:
    """Fit a linear mixed model written in lme4 syntax; return a JSON-serialisable dict.

    Keys: ``formula, outcome, method, n_obs, n_groups{g: levels}, fixed[{term, estimate, se,
    z, p, ci_low, ci_high}], random{g: variance}, random_terms[{group, term, variance}],
    residual_variance, loglik, deviance, aic, bic, theta{g: sigma_g/sigma}, converged,
    singular, r2_marginal, r2_conditional, warnings[str], engine, seconds``.

    ``loglik`` is what lme4's ``logLik()`` reports: the REML log-likelihood (minus half the
    REML criterion) for ``method="REML"``, the log-likelihood for ``"ML"``. Terms carry lme4's
    names. For random slopes, ``random`` also holds ``"g|x"`` keys for the slope variances.
    Raises ``ValueError`` for an unusable formula or data (missing columns, no random term,
    a grouping factor with one level or as many levels as observations).
    """
    started = time.perf_counter()
    method = method.upper()
    if method not in ("REML", "ML"):
        raise ValueError("method must be 'REML' or 'ML'")
    spec = parse_formula(formula)
    if not spec.random:
        raise ValueError("the formula has no random-effect term such as (1|participant)")
    design = build_design(data, spec)
    n = len(design.y)
    for g, q in design.n_levels.items():
        if q < 2:
            raise ValueError(f"grouping factor '{g}' must have more than one level")
        if q >= n:
            raise ValueError(
                f"grouping factor '{g}' has as many levels as observations ({n}): its variance "
                "cannot be told apart from the residual variance"
            )
    if spec.random_intercepts_only:
        out = _fit_pls(spec, design, reml=method == "REML")
    else:
        from .fallback import fit_statsmodels

        out = fit_statsmodels(spec, design, reml=method == "REML")
    result = {
        "formula": spec.formula,
        "outcome": spec.outcome,
        "method": method,
        "n_obs": n,
        "n_groups": dict(design.n_levels),
        **out,
        "warnings": design.warnings + out.get("warnings", []),
        "seconds": time.perf_counter() - started,
    }
    return clean(result)


def _fit_pls(spec: ModelSpec, design: Design, *, reml: bool) -> dict[str, Any]:
    names = [r.name for r in spec.random]
    codes = [design.groups[g] for g in names]
    model = CrossedInterceptsPLS(design.y, design.X, codes)
    starts = [moment_start(design.y, design.X, codes)]
    if model.m * model.m < _SMALL_PROBLEM and design.y.size < 50_000:
        starts.append(np.ones(len(codes)))
    with _blas_threads(model.m):
        opt = optimize_theta(lambda t: model.deviance(t, reml), starts)
        est = model.estimates(opt.theta, reml)
    theta = est.theta
    se = np.sqrt(np.clip(np.diag(est.vcov), 0.0, None))
    variances = [float(est.sigma2 * t * t) for t in theta]
    singular = bool(np.any(theta < SINGULAR_TOL))
    warnings = list(opt.messages)
    if singular:
        warnings.append("boundary (singular) fit: a random-effect variance is estimated as "
                        "(near) zero; see lme4's ?isSingular")
    r2m, r2c = r2_nakagawa(design.X @ est.beta, variances, est.sigma2)
    n_par = len(est.beta) + len(theta) + 1
    loglik = -opt.fun / 2.0
    n = design.y.size
    return {
        "fixed": fixed_table(design.names, est.beta, se),
        "random": dict(zip(names, variances)),
        "random_terms": [
            {"group": g, "term": "(Intercept)", "variance": v} for g, v in zip(names, variances)
        ],
        "residual_variance": est.sigma2,
        "loglik": loglik,
        "deviance": opt.fun,
        "aic": -2.0 * loglik + 2.0 * n_par,
        "bic": -2.0 * loglik + np.log(n) * n_par,
        "theta": dict(zip(names, theta.tolist())),
        "converged": opt.converged,
        "singular": singular,
        "r2_marginal": r2m,
        "r2_conditional": r2c,
        "warnings": warnings,
        "engine": "pls-sparse",
        "n_evaluations": model.n_evals,
    }


@contextlib.contextmanager
def _blas_threads(m: int) -> Iterator[None]:
    """Run the dense Cholesky factors single-threaded unless they are big and cores are idle.

    OpenBLAS threads spin while they wait; when another process holds a core (a busy web
    worker, a parallel test run), a two-thread factor of a 2,000 x 2,000 matrix was measured
    10-30x slower than one thread. Below ~1,500 rows threads gain little anyway.
    """
    ncpu = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] > ncpu - 0.5
    except OSError:
        busy = False
    if ncpu == 1 or (m >= 1500 and not busy):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional nicety: without it BLAS keeps its own setting
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
