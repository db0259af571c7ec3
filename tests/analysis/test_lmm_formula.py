"""Formula parsing and model frames: lme4's syntax, R's term order and column names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.lmm import fit_lmm
from analysis.lmm.design import _fixed_matrix, build_design
from analysis.lmm.formula import parse_formula


def test_parse_house_formula_orders_terms_like_r():
    spec = parse_formula(
        "helpfulness ~ refused * should_refuse + model_orr + (1|participant) + (1|prompt)"
    )
    assert spec.outcome == "helpfulness"
    assert spec.intercept
    assert spec.term_labels == ["refused", "should_refuse", "model_orr", "refused:should_refuse"]
    assert [r.name for r in spec.random] == ["participant", "prompt"]
    assert spec.random_intercepts_only


@pytest.mark.parametrize(
    ("formula", "labels", "intercept"),
    [
        ("y ~ 0 + a:b + b", ["b", "a:b"], False),
        ("y ~ -1 + (a + b + c)^2 - a:c", ["a", "b", "c", "a:b", "b:c"], False),
        ("y ~ b:a + a", ["a", "b:a"], True),
        ("y ~ a/b", ["a", "a:b"], True),
        ("y ~ a*b*c - a:b:c", ["a", "b", "c", "a:b", "a:c", "b:c"], True),
        ("y ~ 1", [], True),
        ("y ~ x - 1 + (1|g)", ["x"], False),
    ],
)
def test_parse_formula_operators(formula, labels, intercept):
    spec = parse_formula(formula)
    assert spec.term_labels == labels
    assert spec.intercept is intercept


def test_parse_random_terms():
    spec = parse_formula("y ~ x + (1 + x|g) + (x||h) + (0 + x|k) + (1|a/b) + (1|c:d)")
    by = {r.name: r for r in spec.random}
    assert by["g"].slopes == ("x",) and by["g"].intercept and by["g"].correlated
    assert not by["h"].correlated and by["h"].intercept
    assert not by["k"].intercept
    assert by["a"].intercept_only and by["a:b"].group == ("a", "b")
    assert by["c:d"].group == ("c", "d")
    assert not spec.random_intercepts_only


@pytest.mark.parametrize(
    "formula",
    ["y ~ x ~ z", "y ~ log(x) + (1|g)", "y ~ x + (1|g) + (1|g)", "y ~ (x + (1|g))", "y ~", "y ~ 2"],
)
def test_parse_formula_rejects(formula):
    with pytest.raises(ValueError):
        parse_formula(formula)


# Column names as R 4.2's model.matrix prints them for the same data (checked with R).
@pytest.mark.parametrize(
    ("formula", "names"),
    [
        ("y ~ model * refused",
         "(Intercept) modelb modelc refused modelb:refused modelc:refused"),
        ("y ~ 0 + model", "modela modelb modelc"),
        ("y ~ refused:model", "(Intercept) refused:modela refused:modelb refused:modelc"),
        ("y ~ model:g", "(Intercept) modela:gx modelb:gx modelc:gx modela:gy modelb:gy modelc:gy"),
        ("y ~ 0 + model + g", "modela modelb modelc gy"),
        ("y ~ lg + z", "(Intercept) lgTRUE z"),
        ("y ~ refused*z - z", "(Intercept) refused refused:z"),
        ("y ~ g:refused + model", "(Intercept) modelb modelc gx:refused gy:refused"),
    ],
)
def test_fixed_columns_named_like_model_matrix(formula, names):
    rng = np.random.default_rng(0)
    d = pd.DataFrame({
        "y": rng.normal(size=12), "model": ["b", "a", "c"] * 4, "g": ["x", "y"] * 6,
        "refused": [0, 1, 1, 0] * 3, "z": rng.normal(size=12), "lg": [True, False] * 6,
    })
    assert " ".join(_fixed_matrix(d, parse_formula(formula))[1]) == names


def test_categorical_keeps_category_order_as_reference():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4], "m": pd.Categorical(["b", "a", "b", "a"],
                                                              categories=["b", "a"])})
    assert _fixed_matrix(d, parse_formula("y ~ m"))[1] == ["(Intercept)", "ma"]


def _frame(n=60, seed=1):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 8, n)
    return pd.DataFrame({
        "y": rng.normal(size=n) + g * 0.3, "x": rng.normal(size=n),
        "model": rng.choice(["gpt4", "llama", "mistral"], n), "g": g,
    })


def test_fit_names_factor_terms_like_lme4():
    fit = fit_lmm(_frame(), "y ~ x + model + (1|g)")
    assert [f["term"] for f in fit["fixed"]] == [
        "(Intercept)", "x", "modelllama", "modelmistral"]


def test_rows_with_missing_values_are_dropped_and_counted():
    d = _frame()
    d.loc[[3, 7], "x"] = np.nan
    d.loc[11, "g"] = None
    d["unused"] = np.nan  # columns the formula does not name do not matter
    fit = fit_lmm(d, "y ~ x + (1|g)")
    assert fit["n_obs"] == len(d) - 3
    assert any("dropped 3 row(s)" in w for w in fit["warnings"])


def test_rank_deficient_columns_are_dropped_with_a_warning():
    d = _frame()
    d["x2"] = 2 * d["x"]
    fit = fit_lmm(d, "y ~ x + x2 + (1|g)")
    assert [f["term"] for f in fit["fixed"]] == ["(Intercept)", "x"]
    assert any("rank deficient" in w and "x2" in w for w in fit["warnings"])


def test_interaction_grouping_factor():
    d = _frame(200)
    d["h"] = np.arange(200) % 3
    spec = parse_formula("y ~ 1 + (1|g:h)")
    design = build_design(d, spec)
    assert design.n_levels["g:h"] == d.groupby(["g", "h"]).ngroups


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("y ~ x", "no random-effect term"),
        ("y ~ x + (1|nope)", "not in the data"),
        ("model ~ x + (1|g)", "must be numeric"),
    ],
)
def test_fit_lmm_rejects_unusable_input(formula, match):
    with pytest.raises(ValueError, match=match):
        fit_lmm(_frame(), formula)


def test_fit_lmm_rejects_one_level_and_one_row_per_level_factors():
    d = _frame()
    d["one"] = "a"
    d["row"] = np.arange(len(d))
    with pytest.raises(ValueError, match="more than one level"):
        fit_lmm(d, "y ~ x + (1|one)")
    with pytest.raises(ValueError, match="as many levels as observations"):
        fit_lmm(d, "y ~ x + (1|row)")
    with pytest.raises(ValueError, match="REML"):
        fit_lmm(d, "y ~ x + (1|g)", method="OLS")
