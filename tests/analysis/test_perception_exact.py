import pandas as pd
import pytest

from analysis.perception import _spearman, perception_correlations


def test_spearman_exact_p_for_three_models_is_one_third():
    rho, p = _spearman(pd.Series([0.1, 0.5, 0.6]), pd.Series([5.0, 4.0, 2.0]))
    assert rho == pytest.approx(-1.0)
    assert p == pytest.approx(1 / 3)


def test_spearman_exact_p_five_models_perfect_is_two_in_120():
    _, p = _spearman(pd.Series([1, 2, 3, 4, 5]), pd.Series([2, 4, 6, 8, 10]))
    assert p == pytest.approx(2 / 120)


def test_correlations_use_exact_p():
    by_model = pd.DataFrame(
        {"scale": ["h"] * 3, "model_orr": [0.1, 0.5, 0.6], "mean": [6.0, 4.0, 3.0]}
    )
    row = perception_correlations(by_model).iloc[0]
    assert row["spearman_p"] == pytest.approx(1 / 3)
