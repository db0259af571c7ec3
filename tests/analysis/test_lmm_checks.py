"""Honest fits: convergence, singularity, cluster-level predictors, R², JSON safety."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.lmm import fit_lmm, r2_nakagawa
from analysis.lmm.optimize import _check, optimize_theta
from analysis.simulate import simulate_ratings

HOUSE_KEYS = {
    "formula", "outcome", "method", "n_obs", "n_groups", "fixed", "random", "residual_variance",
    "loglik", "converged", "singular", "r2_marginal", "r2_conditional", "warnings", "engine",
    "seconds",
}
FORMULA = "helpfulness ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt)"


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return simulate_ratings(n_participants=80, n_prompts=60, ratings_per_participant=20, seed=7)


def test_fit_result_carries_the_house_keys_and_is_strict_json(study):
    fit = fit_lmm(study, FORMULA)
    assert set(fit) >= HOUSE_KEYS
    assert fit["engine"] == "pls-sparse"
    assert fit["n_groups"] == {"participant": 80, "prompt": 60}
    assert {"term", "estimate", "se", "z", "p", "ci_low", "ci_high"} <= set(fit["fixed"][0])
    json.dumps(fit, allow_nan=False)
    assert fit["converged"] and not fit["singular"]


def test_model_level_predictor_warns_unless_model_is_random(study):
    fit = fit_lmm(study, FORMULA)
    hits = [w for w in fit["warnings"] if "model_orr" in w]
    assert len(hits) == 1
    assert "'model'" in hits[0] and "anti-conservative" in hits[0] and "(1|model)" in hits[0]
    with_model = fit_lmm(study, FORMULA.replace("(1|prompt)", "(1|prompt) + (1|model)"))
    assert not [w for w in with_model["warnings"] if "anti-conservative" in w]
    # (1|model) is what makes the SE honest: it grows a lot
    se = {f["term"]: f["se"] for f in fit["fixed"]}
    se_model = {f["term"]: f["se"] for f in with_model["fixed"]}
    assert se_model["model_orr"] > 2 * se["model_orr"]


def test_binary_recodings_do_not_trigger_the_cluster_warning(study):
    # refused is a function of refusal_label (3 levels) but varies between observations
    fit = fit_lmm(study, "helpfulness ~ refused + (1|participant) + (1|prompt)")
    assert not [w for w in fit["warnings"] if "anti-conservative" in w]


def test_singular_fit_is_flagged_at_the_boundary():
    rng = np.random.default_rng(3)
    n = 300
    d = pd.DataFrame({
        "y": rng.normal(size=n),  # no group variance at all
        "g": rng.integers(0, 30, n), "h": rng.integers(0, 20, n),
    })
    d["y"] += (d["h"] - 10) * 0.2  # h has a real variance, g none
    fit = fit_lmm(d, "y ~ 1 + (1|g) + (1|h)")
    assert fit["singular"] is True
    assert fit["converged"] is True
    assert fit["theta"]["g"] < 1e-4
    assert fit["random"]["g"] < 1e-6
    assert fit["random"]["h"] > 0.1
    assert any("singular" in w for w in fit["warnings"])


def test_convergence_is_reported_false_when_the_optimiser_gives_up(monkeypatch):
    import analysis.lmm.optimize as opt

    real = opt.minimize

    def one_step(*args, **kwargs):
        kwargs["options"] = {**kwargs.get("options", {}), "maxiter": 1}
        return real(*args, **kwargs)

    monkeypatch.setattr(opt, "minimize", one_step)
    res = optimize_theta(lambda t: float((t[0] - 3.0) ** 2 * 1e3 + (t[1] - 1.0) ** 4), [
        np.array([0.1, 5.0])])
    assert res.converged is False
    assert res.messages


def test_gradient_check_flags_a_large_scaled_gradient():
    messages: list[str] = []
    max_grad, hess_ok = _check(np.array([0.5, 0.0]), np.eye(2), messages)
    assert max_grad == pytest.approx(0.5) and hess_ok
    max_grad, hess_ok = _check(np.array([1e-6, 0.0]), np.diag([1.0, -1.0]), messages)
    assert not hess_ok and "negative eigenvalue" in messages[-1]


def test_r2_nakagawa_by_hand():
    # var_f = var(1,2,3,4) = 5/3 (n - 1); total = 5/3 + 1 + 0.5 + 1 = 25/6
    r2m, r2c = r2_nakagawa(np.array([1.0, 2, 3, 4]), [1.0, 0.5], 1.0)
    assert r2m == pytest.approx(0.4)
    assert r2c == pytest.approx(0.76)


def test_fit_r2_uses_its_own_estimates(study):
    fit = fit_lmm(study, FORMULA)
    beta = {f["term"]: f["estimate"] for f in fit["fixed"]}
    fitted = (
        beta["(Intercept)"] + beta["refused"] * study["refused"]
        + beta["should_refuse"] * study["should_refuse"] + beta["model_orr"] * study["model_orr"]
        + beta["refused:should_refuse"] * study["refused"] * study["should_refuse"]
    )
    var_f = np.var(fitted, ddof=1)
    total = var_f + sum(fit["random"].values()) + fit["residual_variance"]
    assert fit["r2_marginal"] == pytest.approx(var_f / total)
    assert fit["r2_conditional"] == pytest.approx((var_f + sum(fit["random"].values())) / total)


def test_three_crossed_factors_and_ml(study):
    fit = fit_lmm(study, FORMULA.replace("(1|prompt)", "(1|prompt) + (1|model)"), method="ML")
    assert fit["method"] == "ML"
    assert set(fit["random"]) == {"participant", "prompt", "model"}
    assert fit["converged"]
    reml = fit_lmm(study, FORMULA.replace("(1|prompt)", "(1|prompt) + (1|model)"))
    # ML shrinks variances relative to REML
    assert fit["residual_variance"] < reml["residual_variance"]


def test_random_slopes_fall_back_to_statsmodels_and_say_so(study):
    fit = fit_lmm(study, "helpfulness ~ refused + (1 + refused|participant)")
    assert fit["engine"] == "statsmodels"
    assert any("statsmodels" in w for w in fit["warnings"])
    assert set(fit["random"]) == {"participant", "participant|refused"}
    assert fit["random_correlations"][0]["terms"] == ["(Intercept)", "refused"]
    assert 0 < fit["r2_marginal"] < fit["r2_conditional"] < 1
    json.dumps(fit, allow_nan=False)
    uncorrelated = fit_lmm(study, "helpfulness ~ refused + (refused||participant)")
    assert uncorrelated["random_correlations"] == []


def test_crossed_random_slopes_refused_beyond_statsmodels_reach(study):
    with pytest.raises(ValueError, match="crossed random slopes"):
        fit_lmm(study, "helpfulness ~ refused + (1 + refused|participant) + (1|prompt)")
