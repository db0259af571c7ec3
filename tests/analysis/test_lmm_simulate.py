"""The crowd-study simulator: seeded, well-formed, with the intended structure."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.lmm import fit_lmm
from analysis.simulate import XSTEST_HUMAN_ORR, simulate_ratings

COLUMNS = [
    "study", "participant", "item", "prompt", "prompt_category", "should_refuse", "model",
    "response", "refusal_label", "refused", "refusal_style", "model_orr", "helpfulness",
    "frustration",
]


def test_simulate_ratings_is_seeded_and_tidy():
    a = simulate_ratings(n_participants=30, n_prompts=40, ratings_per_participant=10, seed=5)
    b = simulate_ratings(n_participants=30, n_prompts=40, ratings_per_participant=10, seed=5)
    c = simulate_ratings(n_participants=30, n_prompts=40, ratings_per_participant=10, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == COLUMNS
    assert len(a) == 300
    assert a["helpfulness"].between(1, 7).all() and a["frustration"].between(1, 7).all()
    assert set(a["model"]) <= set(XSTEST_HUMAN_ORR)
    assert set(a["refusal_label"]) <= {"full_compliance", "partial_refusal", "full_refusal"}
    assert (a["refused"] == (a["refusal_label"] != "full_compliance")).all()
    assert ((a["refusal_style"] == "none") == (a["refused"] == 0)).all()
    assert ((a["refusal_style"] == "partial_compliance")
            == (a["refusal_label"] == "partial_refusal")).all()


def test_each_participant_sees_a_prompt_once_and_prompts_are_balanced():
    d = simulate_ratings(n_participants=50, n_prompts=30, ratings_per_participant=12, seed=2)
    assert not d.duplicated(["participant", "prompt"]).any()
    per_prompt = d.groupby("prompt").size()
    assert per_prompt.max() - per_prompt.min() <= 2
    # model_orr is a model-level number: constant within each model
    assert (d.groupby("model")["model_orr"].nunique() == 1).all()


def test_model_orr_tracks_the_requested_propensities():
    d = simulate_ratings(n_participants=400, n_prompts=400, ratings_per_participant=30,
                         models={"strict": 0.6, "lenient": 0.05}, seed=1)
    orr = d.groupby("model")["model_orr"].first()
    assert orr["strict"] > orr["lenient"] + 0.3


def test_simulated_effects_are_recovered_on_the_latent_scale():
    d = simulate_ratings(n_participants=300, n_prompts=200, ratings_per_participant=30,
                         likert=False, seed=4)
    d["style"] = d["refusal_style"]
    # refusing a harmful prompt is judged more leniently: its shift is modelled separately
    fit = fit_lmm(
        d, "helpfulness ~ style + refused:should_refuse + (1|participant) + (1|prompt) + (1|model)"
    )
    est = {f["term"]: f["estimate"] for f in fit["fixed"]}
    # reference level "direct" (first sorted); none = full compliance, +3.68 above direct
    assert est["stylenone"] == pytest.approx(3.68, abs=0.2)
    assert est["stylepartial_compliance"] == pytest.approx(3.68 - 1.42, abs=0.2)
    assert fit["random"]["participant"] == pytest.approx(0.8**2, rel=0.25)
    assert fit["residual_variance"] == pytest.approx(1.1**2, rel=0.1)
