"""Reliability: Krippendorff's alpha on hand-computed and published data, bootstrap, ICC."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.reliability import (
    LEVELS,
    alpha_from_counts,
    bootstrap_alpha,
    complete_block,
    icc,
    krippendorff_alpha,
    reliability_report,
    value_counts,
)

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers x 12 units
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
PUBLISHED_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
# Shrout & Fleiss (1979), table 2: 6 targets x 4 judges, and their table 4 ICCs
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]
SHROUT_FLEISS_ICC = {
    "ICC(1,1)": 0.17,
    "ICC(A,1)": 0.29,
    "ICC(C,1)": 0.71,
    "ICC(1,k)": 0.44,
    "ICC(A,k)": 0.62,
    "ICC(C,k)": 0.91,
}


def _long(matrix, *, scale="helpfulness", raters_are_rows=True) -> pd.DataFrame:
    rows = []
    for r, values in enumerate(matrix):
        for u, value in enumerate(values):
            participant, item = (f"p{r}", f"i{u}") if raters_are_rows else (f"p{u}", f"i{r}")
            rows.append((participant, item, scale, value))
    return pd.DataFrame(rows, columns=["participant", "item", "scale", "value"])


def test_alpha_tiny_example_by_hand():
    # units (1,1), (1,2), (2,2): o11 = 2, o12 = o21 = 1, o22 = 2; n1 = n2 = 3, n = 6
    # D_o = 2/6, D_e = 2 * 3 * 3 / (6 * 5) = 0.6, alpha = 1 - (1/3) / 0.6 = 4/9
    ratings = _long([[1, 1, 2], [1, 2, 2]])
    table = krippendorff_alpha(ratings, level="nominal", n_boot=50)
    assert table.at[0, "alpha"] == pytest.approx(4 / 9)
    # with two categories the ordinal metric is a constant multiple of the nominal one
    assert krippendorff_alpha(ratings, n_boot=50).at[0, "alpha"] == pytest.approx(4 / 9)
    assert (table.at[0, "n_items"], table.at[0, "n_raters"], table.at[0, "n_values"]) == (3, 2, 6)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_reproduces_krippendorff_2011_example(level):
    ratings = _long(KRIPPENDORFF_2011)
    table = krippendorff_alpha(ratings, level=level, n_boot=200)
    assert round(table.at[0, "alpha"], 3) == PUBLISHED_ALPHA[level]
    counts, domain = value_counts(ratings)
    # unit 12 has a single value (not pairable) and is dropped: 11 units, 40 values
    assert counts.shape == (11, 5) and counts.sum() == 40
    assert alpha_from_counts(counts, domain, level=level)[0] == pytest.approx(table.at[0, "alpha"])


@pytest.mark.parametrize("level", LEVELS)
def test_vectorised_bootstrap_replicates_agree_with_the_package(level):
    import krippendorff

    counts, domain = value_counts(_long(KRIPPENDORFF_2011))
    rng = np.random.default_rng(3)
    for _ in range(5):
        draw = rng.integers(0, len(counts), len(counts))
        weights = np.bincount(draw, minlength=len(counts))
        ours = alpha_from_counts(counts, domain, level=level, weights=weights)[0]
        theirs = krippendorff.alpha(
            value_counts=counts[draw], value_domain=domain, level_of_measurement=level
        )
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_bootstrap_alpha_shape_seed_and_ci():
    counts, domain = value_counts(_long(KRIPPENDORFF_2011))
    boots = bootstrap_alpha(counts, domain, n_boot=300, seed=11)
    assert boots.shape == (300,)
    np.testing.assert_array_equal(boots, bootstrap_alpha(counts, domain, n_boot=300, seed=11))
    assert not np.array_equal(boots, bootstrap_alpha(counts, domain, n_boot=300, seed=12))
    assert np.nanmax(boots) <= 1.0
    table = krippendorff_alpha(_long(KRIPPENDORFF_2011), n_boot=300, seed=11)
    row = table.iloc[0]
    valid = boots[~np.isnan(boots)]
    assert row.n_boot_valid == len(valid)
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(valid, [2.5, 97.5])))
    assert row.ci_low < row.alpha <= row.ci_high


def test_bootstrap_perfect_agreement_and_undefined_replicates():
    perfect = _long([[1, 2, 3, 4, 5, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]])
    row = krippendorff_alpha(perfect, n_boot=100).iloc[0]
    assert row.alpha == 1.0 and row.ci_low == 1.0 and row.ci_high == 1.0
    # two items with different constant values: a replicate drawing one item twice has no
    # variation, so alpha is undefined there and left out of the percentile CI
    counts, domain = value_counts(_long([[1, 5], [1, 5]]))
    boots = bootstrap_alpha(counts, domain, n_boot=200, seed=0)
    assert np.isnan(boots).sum() == pytest.approx(100, abs=30)
    assert set(np.unique(boots[~np.isnan(boots)])) == {1.0}


def test_krippendorff_alpha_per_scale_and_degenerate_scales():
    ratings = pd.concat(
        [
            _long(KRIPPENDORFF_2011, scale="helpfulness"),
            _long([[3, 3, 3], [3, 3, 3]], scale="frustration"),  # no variation at all
            _long([[1, NAN], [NAN, 2]], scale="clarity"),  # nobody rated the same item
        ]
    )
    table = krippendorff_alpha(ratings, n_boot=50).set_index("scale")
    assert list(table.index) == ["clarity", "frustration", "helpfulness"]
    assert math.isnan(table.at["frustration", "alpha"])
    assert "same value" in table.at["frustration", "note"]
    assert math.isnan(table.at["clarity", "alpha"]) and table.at["clarity", "n_items"] == 0
    assert table.at["helpfulness", "alpha"] == pytest.approx(0.8154, abs=1e-4)


def test_repeated_ratings_and_bad_level_are_errors():
    ratings = _long([[1, 2], [2, 2]])
    with pytest.raises(ValueError, match="repeated ratings"):
        krippendorff_alpha(pd.concat([ratings, ratings.iloc[:1]]))
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(ratings, level="cardinal")


def test_icc_reproduces_shrout_fleiss_1979():
    ratings = _long(SHROUT_FLEISS, raters_are_rows=False)  # rows are targets, columns judges
    (result,) = icc(ratings)
    assert (result["status"], result["design"]) == ("ok", "complete")
    assert (result["n_raters"], result["n_items"], result["share_used"]) == (4, 6, 1.0)
    got = {e["type"]: e["icc"] for e in result["estimates"]}
    assert got == pytest.approx(SHROUT_FLEISS_ICC, abs=0.005)
    assert all(e["ci_low"] < e["icc"] < e["ci_high"] for e in result["estimates"])
    # pingouin rounds CIs to 2 decimals unless told otherwise; we keep full precision
    assert any(round(e["ci_low"], 2) != e["ci_low"] for e in result["estimates"])


def test_icc_uses_the_largest_complete_block():
    rng = np.random.default_rng(5)
    block_a = _long(rng.integers(1, 8, size=(3, 6)).tolist())  # p0-p2 rate i0-i5
    block_b = _long(rng.integers(1, 8, size=(2, 6)).tolist())  # 2 raters
    block_b["participant"] = "q" + block_b["participant"]
    block_b["item"] = "j" + block_b["item"]
    ratings = pd.concat([block_a, block_b])
    raters, items = complete_block(ratings)
    assert raters == ["p0", "p1", "p2"] and items == [f"i{u}" for u in range(6)]
    (result,) = icc(ratings)
    assert result["status"] == "ok" and result["design"] == "subset"
    assert result["share_used"] == pytest.approx(18 / 30)


def test_icc_not_possible_when_nobody_shares_items():
    # each participant rated their own items: alpha has nothing to pair either, ICC no block
    ratings = pd.DataFrame(
        {
            "participant": [f"p{i // 5}" for i in range(20)],
            "item": [f"i{i}" for i in range(20)],
            "scale": "helpfulness",
            "value": np.arange(20) % 5 + 1,
        }
    )
    (result,) = icc(ratings)
    assert result["status"] == "not_possible" and result["estimates"] == []
    assert "fully crossed" in result["reason"] and "1 participant(s)" in result["reason"]


def test_reliability_report_is_strict_json():
    ratings = pd.concat([_long(KRIPPENDORFF_2011), _long([[3, 3], [3, 3]], scale="frustration")])
    report = reliability_report(ratings, n_boot=100, seed=1)
    text = json.dumps(report, allow_nan=False)
    scales = {s["scale"]: s for s in json.loads(text)["scales"]}
    assert scales["frustration"]["alpha"] is None
    assert scales["helpfulness"]["icc"]["status"] == "ok"
    assert report["seed"] == 1 and report["bootstrap"] == "items"
