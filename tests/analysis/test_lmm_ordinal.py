"""The ordinal robustness check: cumulative logit on the fixed part, cluster-robust SEs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.lmm import compare_linear_ordinal, fit_lmm, fit_ordinal
from analysis.lmm.ordinal import _fast_logit_model
from analysis.simulate import simulate_ratings

FORMULA = "helpfulness ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt)"


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return simulate_ratings(n_participants=80, n_prompts=60, ratings_per_participant=20, seed=7)


def test_fit_ordinal_terms_and_cluster_robust_errors(study):
    fit = fit_ordinal(study, FORMULA)
    json.dumps(fit, allow_nan=False)
    assert fit["engine"] == "statsmodels-OrderedModel" and fit["link"] == "logit"
    assert [f["term"] for f in fit["fixed"]] == [
        "refused", "should_refuse", "model_orr", "refused:should_refuse"]
    assert fit["cov_type"] == "cluster" and fit["cluster"] == "participant"
    assert fit["converged"]
    assert len(fit["thresholds"]) == len(fit["levels"]) - 1
    assert np.all(np.diff(fit["thresholds"]) > 0)
    refused = fit["fixed"][0]
    assert refused["estimate"] < 0 and refused["p"] < 1e-6  # refusals are rated less helpful
    assert any("dropped in the ordinal model" in w for w in fit["warnings"])


def test_fast_ordered_model_equals_statsmodels_stock_class(study):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    X = study[["refused", "should_refuse"]].astype(float)
    y = pd.Series(pd.Categorical(study["helpfulness"], ordered=True))
    groups = study["participant"].factorize()[0]
    kw = {"method": "bfgs", "disp": False, "maxiter": 2000, "cov_type": "cluster",
          "cov_kwds": {"groups": groups}}
    stock = OrderedModel(y, X, distr="logit").fit(**kw)
    fast = _fast_logit_model()(y, X, distr="logit").fit(**kw)
    np.testing.assert_allclose(fast.params, stock.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fast.bse, stock.bse, rtol=1e-4)
    assert fast.llf == pytest.approx(stock.llf, rel=1e-10)


def test_fit_ordinal_without_grouping_says_errors_are_plain():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = np.clip(np.rint(4 + 1.2 * x + rng.normal(size=300)), 1, 7)
    fit = fit_ordinal(pd.DataFrame({"y": y, "x": x}), "y ~ x")
    assert fit["cov_type"] == "nonrobust"
    assert any("non-robust" in w for w in fit["warnings"])
    assert fit["fixed"][0]["estimate"] > 0


def test_linear_and_ordinal_agree_on_simulated_likert(study):
    lin = fit_lmm(study, FORMULA)
    ordl = fit_ordinal(study, FORMULA)
    disagreements = compare_linear_ordinal(lin, ordl)
    assert all(row["term"] != "refused" for row in disagreements)


def _fit(**terms):
    return {"fixed": [{"term": "(Intercept)", "estimate": 1.0, "p": 0.0}] + [
        {"term": t, "estimate": e, "p": p} for t, (e, p) in terms.items()]}


def test_compare_linear_ordinal_flags_sign_and_significance():
    lin = _fit(a=(0.5, 0.001), b=(-0.2, 0.01), c=(0.1, 0.3), d=(0.3, 0.02), only_lin=(1, 0))
    ordl = _fit(a=(1.1, 0.0001), b=(0.4, 0.03), c=(0.2, 0.6), d=(0.6, 0.08))
    rows = compare_linear_ordinal(lin, ordl)
    assert [r["term"] for r in rows] == ["b", "d"]
    b, d = rows
    assert not b["sign_agrees"] and b["significance_agrees"] and "sign" in b["reason"]
    assert d["sign_agrees"] and not d["significance_agrees"]
    assert "only in the linear model" in d["reason"]
    assert compare_linear_ordinal(lin, lin) == []
