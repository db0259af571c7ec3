"""Bradley–Terry, position bias and ranking agreement on hand-computed comparisons."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import wilson_interval
from analysis.pairwise import (
    bootstrap_bradley_terry,
    bradley_terry,
    fit_bradley_terry,
    pairwise_summary,
    position_bias,
    ranking_agreement,
)


def _comparisons(outcomes, *, shown_left="a") -> pd.DataFrame:
    """outcomes: (participant, model_a, model_b, choice) tuples."""
    frame = pd.DataFrame(outcomes, columns=["participant", "model_a", "model_b", "choice"])
    frame["item"] = [f"pair{i}" for i in range(len(frame))]
    frame["shown_left"] = shown_left
    return frame


def _two_models() -> pd.DataFrame:
    # A beats B 3 times, B beats A once, 2 ties
    return _comparisons(
        [
            ("p1", "A", "B", "a"),
            ("p1", "A", "B", "a"),
            ("p2", "B", "A", "b"),
            ("p2", "A", "B", "b"),
            ("p3", "A", "B", "tie"),
            ("p3", "B", "A", "tie"),
        ]
    )


def test_two_models_strength_ratio_is_the_win_ratio():
    half = bradley_terry(_two_models(), ties="half").set_index("model")
    # ties as half wins: A 3 + 1 = 4, B 1 + 1 = 2, so pi_A / pi_B = 2; centred: +-log(2)/2
    assert half.at["A", "log_strength"] == pytest.approx(math.log(2) / 2)
    assert half.at["B", "log_strength"] == pytest.approx(-math.log(2) / 2)
    assert half.at["A", "strength"] / half.at["B", "strength"] == pytest.approx(2)
    excluded = bradley_terry(_two_models(), ties="exclude").set_index("model")
    assert excluded.at["A", "strength"] / excluded.at["B", "strength"] == pytest.approx(3)
    # raw counts are the same in both tables; ties are never counted as wins
    for table in (half, excluded):
        assert (table.at["A", "wins"], table.at["A", "losses"], table.at["A", "ties"]) == (3, 1, 2)
        assert table.at["A", "n"] == 6 and table.at["A", "rank"] == 1
    assert half.log_strength.sum() == pytest.approx(0)


def test_cyclic_preferences_give_equal_strengths():
    frame = _comparisons([("p", "A", "B", "a"), ("p", "B", "C", "a"), ("p", "C", "A", "a")])
    table = bradley_terry(frame)
    np.testing.assert_allclose(table.log_strength, 0, atol=1e-9)
    assert (table["rank"] == 1).all()


def test_bradley_terry_agrees_with_logistic_regression():
    import statsmodels.api as sm

    rng = np.random.default_rng(2024)
    true = {"A": 1.0, "B": 0.3, "C": -0.2, "D": -1.1}
    models = list(true)
    rows = []
    for k in range(600):
        a, b = rng.choice(models, 2, replace=False)
        p_a = 1 / (1 + math.exp(true[b] - true[a]))
        rows.append((f"p{k % 40}", a, b, "a" if rng.random() < p_a else "b"))
    frame = _comparisons(rows)
    ours = bradley_terry(frame, ties="exclude").set_index("model").log_strength
    # logit P(a wins) = beta_a - beta_b, D as reference (beta_D = 0)
    design = np.zeros((len(frame), len(models)))
    rows_index = np.arange(len(frame))
    design[rows_index, frame.model_a.map(models.index)] += 1
    design[rows_index, frame.model_b.map(models.index)] -= 1
    design = pd.DataFrame(design, columns=models)
    fit = sm.Logit((frame.choice == "a").astype(float), design[["A", "B", "C"]]).fit(disp=0)
    beta = pd.Series({**fit.params.to_dict(), "D": 0.0})
    beta -= beta.mean()
    assert ours[models].to_numpy() == pytest.approx(beta[models].to_numpy(), abs=1e-6)
    assert ours.idxmax() == "A" and ours.idxmin() == "D"


def test_no_mle_when_a_model_never_wins():
    frame = _comparisons(
        [("p", "A", "B", "a"), ("p", "A", "B", "a"), ("p", "B", "C", "a"), ("p", "C", "B", "a")]
    )
    table = bradley_terry(frame, ties="exclude")
    assert not table.identifiable.any() and table.log_strength.isna().all()
    log_p, converged, _ = fit_bradley_terry(np.array([[0.0, 2.0], [0.0, 0.0]]))
    assert np.isnan(log_p).all() and not converged


def test_bootstrap_over_participants_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(7)
    rows = []
    for k in range(300):
        a, b = rng.choice(["A", "B", "C"], 2, replace=False)
        strong = {"A": 2, "B": 1, "C": 0}
        rows.append((f"p{k % 30}", a, b, "a" if strong[a] + rng.normal() > strong[b] else "b"))
    frame = _comparisons(rows)
    table = bradley_terry(frame, n_boot=200, seed=3)
    again = bradley_terry(frame, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(table, again)
    assert (table.n_boot_valid == 200).all()
    assert ((table.ci_low < table.log_strength) & (table.log_strength < table.ci_high)).all()
    boots = bootstrap_bradley_terry(frame, models=["A", "B", "C"], n_boot=50, seed=1)
    assert boots.shape == (50, 3)
    np.testing.assert_allclose(boots.sum(axis=1), 0, atol=1e-9)


def test_bootstrap_with_one_participant_is_degenerate():
    # resampling participants: one participant means every replicate is the original data
    table = bradley_terry(_two_models().assign(participant="solo"), n_boot=30)
    assert table.ci_low.to_numpy() == pytest.approx(table.log_strength.to_numpy())
    assert table.ci_high.to_numpy() == pytest.approx(table.log_strength.to_numpy())


def test_position_bias_hand_computed():
    frame = _comparisons([("p", "A", "B", c) for c in ["a"] * 6 + ["b"] * 4 + ["tie"] * 3])
    frame["shown_left"] = ["a"] * 5 + ["b"] + ["b"] * 2 + ["a"] * 2 + ["a"] * 3
    # left chosen: 5 (a shown left, a chosen) + 2 (b shown left, b chosen) = 7 of 10 non-ties
    result = position_bias(frame)
    assert (result["k"], result["n"], result["n_ties"]) == (7, 10, 3)
    assert result["share_left"] == pytest.approx(0.7)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(wilson_interval(7, 10))
    assert result["p"] == pytest.approx(0.34375)  # exact binomial, two-sided: 2 * P(X >= 7)
    assert position_bias(frame[frame.choice == "tie"])["share_left"] is None


def test_ranking_agreement_orientation():
    strengths = {"A": 1.0, "B": 0.0, "C": -1.0}
    agree = ranking_agreement(strengths, {"A": 0.05, "B": 0.2, "C": 0.6})
    assert agree["tau"] == pytest.approx(1.0) and agree["n"] == 3  # lower ORR = preferred
    reverse = ranking_agreement(strengths, {"A": 0.6, "B": 0.2, "C": 0.05})
    assert reverse["tau"] == pytest.approx(-1.0)
    partial = ranking_agreement(strengths, {"A": 0.1, "C": None, "D": 0.3})
    assert partial["n"] == 1 and partial["tau"] is None


def test_invalid_comparisons_are_rejected():
    frame = _two_models()
    with pytest.raises(ValueError, match="choice"):
        bradley_terry(frame.assign(choice="left"))
    with pytest.raises(ValueError, match="shown_left"):
        bradley_terry(frame.assign(shown_left="right"))
    with pytest.raises(ValueError, match="two different"):
        bradley_terry(frame.assign(model_b="A"))
    with pytest.raises(ValueError, match="ties"):
        bradley_terry(frame, ties="drop")


def test_pairwise_summary_is_strict_json():
    summary = pairwise_summary(_two_models(), model_orr={"A": 0.1, "B": 0.5}, n_boot=20, seed=0)
    parsed = json.loads(json.dumps(summary, allow_nan=False))
    assert parsed["ranking_agreement"]["tau"] == pytest.approx(1.0)
    assert [r["model"] for r in parsed["bradley_terry"]["ties_half"]] == ["A", "B"]
    assert parsed["bootstrap"]["unit"] == "participant"
    assert parsed["n_participants"] == 3
