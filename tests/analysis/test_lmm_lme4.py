"""Live cross-check against R's lme4 on simulated crowd studies (skipped without R + lme4).

CI installs r-base-core and r-cran-lme4, so this runs there. Tolerance: 1e-4 relative on
every number, with two justified floors. A fixed effect whose estimate is smaller than its
standard error is compared relative to the SE (relative error of a number near zero says
nothing about the fit). A variance below 1% of the residual variance is compared to 1e-5 x the
residual variance, absolutely: there the likelihood is so flat in that direction that the
optimisers' stopping rules decide the digits (seen: 0.0014953 vs lme4's 0.0014972 at
log-likelihoods equal to 1e-10, lme4's the higher by 1e-10), and a variance of ~0 has no
meaningful relative error. Our optimum must never be worse than lme4's beyond 1e-7.
"""

from __future__ import annotations

import pytest

from analysis.lmm import fit_lmm
from analysis.lmm.lme4 import fit_lme4_methods, lme4_available
from analysis.simulate import simulate_ratings

pytestmark = pytest.mark.skipif(
    not lme4_available(),
    reason="R's lme4 is not installed (apt-get install r-base-core r-cran-lme4)",
)

REL = 1e-4
FORMULA = "helpfulness ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt)"
CASES = [
    # (simulator arguments, formula)
    ({"n_participants": 60, "n_prompts": 50, "ratings_per_participant": 15, "seed": 11},
     FORMULA),
    ({"n_participants": 90, "n_prompts": 40, "ratings_per_participant": 12, "seed": 12},
     "frustration ~ refused * should_refuse + (1|participant) + (1|prompt) + (1|model)"),
    ({"n_participants": 40, "n_prompts": 120, "ratings_per_participant": 25, "seed": 13,
      "likert": False},
     "helpfulness ~ refusal_style + should_refuse + (1|participant) + (1|prompt)"),
    ({"n_participants": 25, "n_prompts": 30, "ratings_per_participant": 8, "seed": 14,
      "sd_prompt": 0.0},
     "helpfulness ~ refused + (1|participant) + (1|prompt)"),
]


def _close(ours: float, ref: float, floor: float = 0.0) -> bool:
    return abs(ours - ref) <= REL * max(abs(ref), floor)


@pytest.fixture(scope="module")
def lme4_fits(tmp_path_factory) -> dict:
    """One R process per simulated study, REML and ML together (R starts in seconds)."""
    fits = {}
    for case, (kwargs, formula) in enumerate(CASES):
        data = simulate_ratings(**kwargs)
        path = tmp_path_factory.mktemp("lme4") / "ratings.csv"
        data.to_csv(path, index=False)
        refs = fit_lme4_methods(path, formula, factors=("participant", "prompt", "model"))
        fits[case] = (data, formula, refs)
    return fits


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_lmm_matches_live_lme4(lme4_fits, case, method):
    data, formula, refs = lme4_fits[case]
    ref = refs[method]
    ours = fit_lmm(data, formula, method=method)

    assert ours["loglik"] >= ref["loglik"] - 1e-7
    assert _close(ours["loglik"], ref["loglik"])
    assert _close(ours["residual_variance"], ref["residual_variance"])
    assert [f["term"] for f in ours["fixed"]] == list(ref["fixed"])
    for f in ours["fixed"]:
        est, se = ref["fixed"][f["term"]]
        assert _close(f["estimate"], est, floor=se), f["term"]
        assert _close(f["se"], se), f["term"]
    assert set(ours["random"]) == set(ref["random"])
    sigma2 = ref["residual_variance"]
    for g, var in ref["random"].items():
        if var < 1e-2 * sigma2:
            assert abs(ours["random"][g] - var) <= 1e-5 * sigma2, g
        else:
            assert _close(ours["random"][g], var), g
    assert ours["singular"] == ref["singular"]
    assert ours["converged"]


def test_random_slope_fallback_agrees_with_lme4(tmp_path):
    """statsmodels' MixedLM optimum matches lme4's to its optimiser's accuracy (1e-3)."""
    data = simulate_ratings(n_participants=40, n_prompts=60, ratings_per_participant=15,
                            seed=3, likert=False)
    path = tmp_path / "ratings.csv"
    data.to_csv(path, index=False)
    formula = "helpfulness ~ refused + (1 + refused|participant)"
    refs = fit_lme4_methods(path, formula, factors=("participant",))
    for method, ref in refs.items():
        ours = fit_lmm(data, formula, method=method)
        assert ours["engine"] == "statsmodels"
        assert ours["loglik"] == pytest.approx(ref["loglik"], rel=1e-6)
        for f in ours["fixed"]:
            est, se = ref["fixed"][f["term"]]
            assert f["estimate"] == pytest.approx(est, rel=1e-3, abs=1e-3 * se)
            assert f["se"] == pytest.approx(se, rel=2e-3)
        for key, var in ref["random"].items():
            assert ours["random"][key] == pytest.approx(var, rel=2e-3, abs=1e-3)
