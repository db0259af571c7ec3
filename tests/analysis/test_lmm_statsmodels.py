"""The PLS engine agrees with statsmodels' MixedLM on random-intercept models.

statsmodels optimises the same likelihood by a different route (and reports the same REML
log-likelihood convention as lme4), so on a single grouping factor both must land on the same
optimum. Tolerances are what statsmodels' optimiser reaches (~1e-3 relative); our optimum must
never be worse than statsmodels'.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.lmm import fit_lmm


@st.composite
def designs(draw):
    n_groups = draw(st.integers(4, 12))
    sizes = draw(st.lists(st.integers(2, 9), min_size=n_groups, max_size=n_groups))
    seed = draw(st.integers(0, 2**31 - 1))
    sd_group = draw(st.sampled_from([0.3, 0.8, 2.0]))
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), sizes)
    n = len(g)
    x = rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n)
    y = (
        1.5 + 0.7 * x + (cat == "b") * 0.4
        + rng.normal(0, sd_group, n_groups)[g] + rng.normal(0, 1.0, n)
    )
    return pd.DataFrame({"y": y, "x": x, "cat": cat, "g": [f"g{i}" for i in g]})


def _statsmodels(data: pd.DataFrame, reml: bool):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smf.mixedlm("y ~ x + C(cat)", data, groups=data["g"]).fit(reml=reml)
    return res


def _gls_se(data: pd.DataFrame, var_g: float, sigma2: float) -> np.ndarray:
    """SE(beta) = sqrt(diag((X'V^-1 X)^-1)) at given variances: lme4's vcov, written out.

    statsmodels' own bse_fe comes from the Hessian over all parameters, a different (also
    valid) estimator, so the engine's SEs are checked against the textbook GLS formula at
    statsmodels' variance estimates instead.
    """
    X = np.column_stack([np.ones(len(data)), data["x"], data["cat"] == "b", data["cat"] == "c"])
    Z = pd.get_dummies(data["g"]).to_numpy(dtype=float)
    V = sigma2 * np.eye(len(data)) + var_g * Z @ Z.T
    return np.sqrt(np.diag(np.linalg.inv(X.T @ np.linalg.solve(V, X))))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=designs(), method=st.sampled_from(["REML", "ML"]))
def test_lmm_agrees_with_statsmodels_mixedlm(data, method):
    res = _statsmodels(data, reml=method == "REML")
    ours = fit_lmm(data, "y ~ x + cat + (1|g)", method=method)
    assert ours["converged"]
    # statsmodels sometimes stops at a worse point; ours must never be the worse one
    assert ours["loglik"] >= res.llf - 1e-6
    var_sm = float(res.cov_re.iloc[0, 0])
    assume(res.converged and ours["loglik"] - res.llf < 1e-6)
    assume(var_sm > 1e-3 * res.scale)  # near the boundary statsmodels is imprecise

    assert ours["loglik"] == pytest.approx(res.llf, rel=1e-7, abs=1e-6)
    names = [f["term"] for f in ours["fixed"]]
    assert names == ["(Intercept)", "x", "catb", "catc"]
    sm_names = ["Intercept", "x", "C(cat)[T.b]", "C(cat)[T.c]"]
    se_gls = _gls_se(data, var_sm, res.scale)
    for f, name, se in zip(ours["fixed"], sm_names, se_gls):
        assert f["estimate"] == pytest.approx(res.fe_params[name], rel=1e-3, abs=1e-3 * f["se"])
        assert f["se"] == pytest.approx(se, rel=1e-3)
    assert ours["random"]["g"] == pytest.approx(var_sm, rel=1e-3, abs=1e-4 * res.scale)
    assert ours["residual_variance"] == pytest.approx(res.scale, rel=1e-3)
