"""Turning estimates into the JSON fit result: Wald tables, R², clean floats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["clean", "fixed_table", "r2_nakagawa"]

_Z975 = float(ndtri(0.975))


def clean(value: Any) -> Any:
    """Plain Python types only; NaN and infinities become None so json.dumps stays strict."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def fixed_table(names: list[str], beta: np.ndarray, se: np.ndarray) -> list[dict]:
    """Wald z tests and 95% intervals (normal reference, as lme4's confint(method='Wald'))."""
    rows = []
    for name, b, s in zip(names, beta, se):
        z = b / s if s > 0 else float("nan")
        p = 2.0 * float(ndtr(-abs(z))) if math.isfinite(z) else float("nan")
        rows.append({
            "term": name, "estimate": float(b), "se": float(s), "z": float(z), "p": p,
            "ci_low": float(b - _Z975 * s), "ci_high": float(b + _Z975 * s),
        })
    return rows


def r2_nakagawa(
    fixed_fitted: np.ndarray, random_variances: list[float], residual_variance: float
) -> tuple[float, float]:
    """Nakagawa & Schielzeth (2013) marginal and conditional R² for a linear mixed model.

    ``var_f`` is the variance of the fitted fixed part X beta (with the n - 1 denominator, as
    R's ``var`` in MuMIn::r.squaredGLMM and performance::r2_nakagawa);
    R²m = var_f / (var_f + sum var_g + var_e), R²c = (var_f + sum var_g) / (same).
    """
    fitted = np.asarray(fixed_fitted, dtype=float)
    var_f = float(np.var(fitted, ddof=1)) if fitted.size > 1 else 0.0
    var_r = float(sum(random_variances))
    total = var_f + var_r + float(residual_variance)
    if total <= 0:
        return float("nan"), float("nan")
    return var_f / total, (var_f + var_r) / total
