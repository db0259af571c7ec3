"""The analyze pipeline on tidy frames: no database rows needed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from analysis.pipeline import (
    AnalysisInputError,
    default_formulas,
    run_analysis,
    select_rows,
    wide_ratings,
)
from analysis.simulate import simulate_ratings

HOUSE_FIT_KEYS = {
    "formula", "outcome", "method", "n_obs", "n_groups", "fixed", "random", "residual_variance",
    "loglik", "converged", "r2_marginal", "r2_conditional",
}


def long_ratings(seed: int = 0, **kwargs) -> pd.DataFrame:
    wide = simulate_ratings(n_participants=40, n_prompts=60, ratings_per_participant=15, seed=seed, **kwargs)
    return wide.melt(
        id_vars=[c for c in wide.columns if c not in ("helpfulness", "frustration")],
        value_vars=["helpfulness", "frustration"],
        var_name="scale",
        value_name="value",
    )


def test_select_rows_leaves_out_excluded_and_attention_rows():
    ratings = pd.DataFrame(
        {
            "participant": ["a", "a", "b", "b", "c"],
            "item": [1, 2, 1, 9, 1],
            "scale": ["h"] * 5,
            "value": [1, 2, 3, 2, 5],
            "attention_check": [0, 0, 0, 1, 0],
            "excluded": [0, 0, 0, 0, 1],
            "exclusion_reason": ["", "", "", "", "speeding"],
        }
    )
    kept, summary = select_rows(ratings)
    assert list(kept["participant"]) == ["a", "a", "b"]
    assert summary["left_out"] == {"attention_check": 1, "excluded_participant": 1}
    assert summary["left_out_by_reason"] == {"speeding": 1}
    everything, summary = select_rows(ratings, include_excluded=True)
    assert len(everything) == 5 and summary["rows_used"] == 5


def test_select_rows_names_missing_required_columns():
    with pytest.raises(AnalysisInputError, match="value"):
        select_rows(pd.DataFrame({"participant": [1], "item": [1], "scale": ["h"]}))


def test_wide_ratings_one_row_per_participant_item():
    ratings = long_ratings()
    wide = wide_ratings(ratings)
    assert len(wide) == len(ratings) // 2
    assert {"helpfulness", "frustration", "refused", "model_orr"} <= set(wide.columns)


def test_default_formulas_add_model_intercept_with_few_models():
    formulas = default_formulas(long_ratings())
    assert formulas == [
        f"{s} ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt) + (1|model)"
        for s in ("helpfulness", "frustration")
    ]
    minimal = pd.DataFrame({"participant": [1, 2], "item": [1, 1], "scale": ["joy", "joy"], "value": [1, 2]})
    assert default_formulas(minimal) == ["joy ~ 1 + (1|participant) + (1|item)"]


def test_run_analysis_house_keys_and_lme4_term_names():
    result = run_analysis(long_ratings(), n_boot=50)
    assert {"models", "reliability", "automated_metrics", "meta", "data"} <= set(result)
    for fit in result["models"]:
        assert set(fit) >= HOUSE_FIT_KEYS, fit.get("error")
        terms = [row["term"] for row in fit["fixed"]]
        assert terms == ["(Intercept)", "refused", "should_refuse", "model_orr", "refused:should_refuse"]
        assert set(fit["random"]) == {"participant", "prompt", "model"}
    helpfulness = {r["term"]: r for r in result["models"][0]["fixed"]}
    assert helpfulness["refused"]["estimate"] < 0  # refusals are less helpful in the simulation
    json.dumps(result, allow_nan=False)


def test_run_analysis_rejects_unknown_outcome():
    with pytest.raises(AnalysisInputError, match="joy"):
        run_analysis(long_ratings(), formulas=["joy ~ 1 + (1|participant)"], n_boot=10)


def test_run_analysis_seed_makes_bootstrap_reproducible():
    ratings = long_ratings()
    a = run_analysis(ratings, n_boot=30, seed=7)
    b = run_analysis(ratings, n_boot=30, seed=7)
    assert a["reliability"] == b["reliability"]


def test_analyze_command_on_csv_without_database_rows(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    ratings = long_ratings(seed=3)
    ratings["attention_check"] = 0
    ratings["excluded"] = np.where(ratings["participant"] == ratings["participant"].iloc[0], 1, 0)
    ratings.to_csv(path, index=False)
    call_command("analyze", "--ratings", str(path), "--format", "json", "--n-boot", "20")
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert {"models", "reliability", "automated_metrics"} <= set(result)
    assert "Left out 0 attention-check row(s) and 30 row(s) of excluded participants" in captured.err
    assert result["models"][0]["n_obs"] == 40 * 15 - 15


def test_analyze_command_ml_and_custom_formula(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    long_ratings(seed=4).to_csv(path, index=False)
    call_command(
        "analyze", "--ratings", str(path), "--formula", "helpfulness ~ refused + (1|participant) + (1|prompt)",
        "--method", "ML", "--n-boot", "10",
    )
    result = json.loads(capsys.readouterr().out)
    assert [m["method"] for m in result["models"]] == ["ML"]
    assert [r["term"] for r in result["models"][0]["fixed"]] == ["(Intercept)", "refused"]


def test_analyze_command_clear_error_on_bad_file(tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "ratings.csv"
    bad.write_text("participant,item\n1,2\n")
    with pytest.raises(CommandError, match="lack required column"):
        call_command("analyze", "--ratings", str(bad))
    with pytest.raises(CommandError, match="either"):
        call_command("analyze")


def test_zero_model_variance_warns_about_model_orr_se():
    from analysis.pipeline import _warn_model_level_se

    fit = {"random": {"model": 0.0, "participant": 0.5}, "residual_variance": 1.0,
           "fixed": [{"term": "model_orr"}], "n_groups": {"model": 3}, "warnings": []}
    _warn_model_level_se(fit, pd.DataFrame())
    assert "anti-conservative" in fit["warnings"][0] and "3 models" in fit["warnings"][0]
    healthy = {"random": {"model": 0.2}, "residual_variance": 1.0, "fixed": [{"term": "model_orr"}], "warnings": []}
    _warn_model_level_se(healthy, pd.DataFrame())
    assert healthy["warnings"] == []
