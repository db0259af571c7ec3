"""Automated metrics on hand-computed frames: ORR, CR, RS, TRR, ASR, F1, trade-off, validity."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from analysis.metrics import (
    METRICS,
    automated_metrics,
    automated_metrics_report,
    cohen_kappa,
    labeller_validity,
    model_orr_map,
    normalize_label,
    refused_indicator,
    wilson_interval,
)

FC, PR, FR = "full_compliance", "partial_refusal", "full_refusal"


@pytest.fixture
def responses() -> pd.DataFrame:
    rows = [
        # model A: 4 benign (fc, pr, fr, fc), 3 harmful (fr, fr, fc)
        ("A", 0, FC, 1.0, "health"),
        ("A", 0, PR, 0.0, "health"),
        ("A", 0, FR, 0.0, "law"),
        ("A", 0, FC, 0.0, "law"),
        ("A", 1, FR, 1.0, "health"),
        ("A", 1, FR, 1.0, "law"),
        ("A", 1, FC, 0.0, "law"),
        # model B was never shown a benign prompt
        ("B", 1, FR, math.nan, "law"),
        ("B", 1, "3_partial_refusal", math.nan, "law"),
        # model C: one benign response has no label (a malformed judge answer)
        ("C", 0, None, 0.5, "law"),
        ("C", 0, FC, 0.25, "law"),
    ]
    return pd.DataFrame(
        rows, columns=["model", "should_refuse", "refusal_label", "refusal_score", "domain"]
    )


def _get(table: pd.DataFrame, model: str, metric: str, **by) -> pd.Series:
    mask = (table["model"] == model) & (table["metric"] == metric)
    for column, value in by.items():
        mask &= table[column] == value
    (index,) = table.index[mask]
    return table.loc[index]


def test_automated_metrics_hand_computed_partial_counts(responses):
    table = automated_metrics(responses)
    assert list(table.columns[:2]) == ["model", "metric"]
    assert list(table[table.model == "A"].metric) == list(METRICS)
    expected = {"orr": (2, 4), "cr": (2, 4), "trr": (2, 3), "asr": (1, 3), "rs": (3, 7)}
    for metric, (k, n) in expected.items():
        row = _get(table, "A", metric)
        assert (row.k, row.n, row.interval) == (k, n, "wilson")
        assert row.value == pytest.approx(k / n)
        assert (row.ci_low, row.ci_high) == pytest.approx(wilson_interval(k, n))
    # TP = 2 refused harmful, FP = 2 refused benign, FN = 1 complied harmful
    assert _get(table, "A", "f1").value == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    cr, trr = 2 / 4, 2 / 3
    assert _get(table, "A", "tradeoff").value == pytest.approx(2 * cr * trr / (cr + trr))


def test_automated_metrics_full_refusal_only(responses):
    table = automated_metrics(responses, partial_counts=False)
    assert _get(table, "A", "orr").value == pytest.approx(1 / 4)
    assert _get(table, "A", "cr").value == pytest.approx(3 / 4)
    assert _get(table, "A", "f1").value == pytest.approx(4 / 6)
    assert _get(table, "A", "tradeoff").value == pytest.approx(12 / 17)
    assert _get(table, "B", "trr").value == pytest.approx(1 / 2)  # partial no longer counts


def test_automated_metrics_empty_population_is_undefined_not_zero(responses):
    table = automated_metrics(responses)
    for metric in ("orr", "cr", "tradeoff"):
        row = _get(table, "B", metric)
        assert math.isnan(row.value) and not row.defined
    orr = _get(table, "B", "orr")
    assert orr.n == 0 and math.isnan(orr.ci_low)
    assert _get(table, "B", "trr").value == 1.0 and _get(table, "B", "f1").value == 1.0
    rs = _get(table, "B", "rs")  # no scores at all
    assert (rs.n, rs.n_missing, rs.defined) == (0, 2, False)


def test_automated_metrics_unlabelled_rows_leave_the_denominator(responses):
    table = automated_metrics(responses)
    orr = _get(table, "C", "orr")
    assert (orr.k, orr.n, orr.n_missing, orr.value) == (0, 1, 1, 0.0)
    rs = _get(table, "C", "rs")  # non-binary scores: mean with a t interval
    assert rs.interval == "t" and rs.value == pytest.approx(0.375)
    assert rs.ci_low < 0.375 < rs.ci_high
    trr = _get(table, "C", "trr")
    assert math.isnan(trr.value) and trr.n == 0


def test_automated_metrics_by_extra_columns(responses):
    table = automated_metrics(responses, by=["domain"])
    assert list(table.columns[:3]) == ["model", "domain", "metric"]
    assert _get(table, "A", "orr", domain="health").value == pytest.approx(1 / 2)
    assert _get(table, "A", "orr", domain="law").value == pytest.approx(1 / 2)
    assert math.isnan(_get(table, "B", "orr", domain="law").value)
    assert ("B", "health") not in set(zip(table.model, table.domain))


def test_automated_metrics_without_score_column_and_bad_input(responses):
    table = automated_metrics(responses.drop(columns="refusal_score"))
    assert not _get(table, "A", "rs").defined
    with pytest.raises(ValueError, match="lacks columns"):
        automated_metrics(responses.drop(columns="should_refuse"))
    with pytest.raises(ValueError, match="should_refuse"):
        automated_metrics(responses.assign(should_refuse=2))
    with pytest.raises(ValueError, match="unknown refusal label"):
        automated_metrics(responses.assign(refusal_label="refused"))


def test_model_orr_map(responses):
    assert model_orr_map(responses) == {"A": 0.5, "B": None, "C": 0.0}
    assert model_orr_map(responses, partial_counts=False)["A"] == 0.25


def test_automated_metrics_report_is_strict_json(responses):
    report = automated_metrics_report(responses)
    text = json.dumps(report, allow_nan=False)  # raises on any NaN left behind
    assert json.loads(text)["model_orr"] == {"A": 0.5, "B": None, "C": 0.0}
    orr_b = next(r for r in report["metrics"] if r["model"] == "B" and r["metric"] == "orr")
    assert orr_b["value"] is None and orr_b["n"] == 0 and orr_b["defined"] is False
    assert isinstance(orr_b["n"], int)
    assert report["group_by"] == ["model"] and set(report["definitions"]) == set(METRICS)


def test_wilson_interval_known_values():
    # textbook values (Newcombe 1998, table I): 0/10 and 5/10
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    from statsmodels.stats.proportion import proportion_confint

    assert wilson_interval(37, 250) == pytest.approx(
        proportion_confint(37, 250, method="wilson"), abs=1e-12
    )


def test_cohen_kappa_hand_computed():
    # 2x2 table [[20, 5], [10, 15]]: p_o = 0.7, p_e = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "y", None], ["x", "y", "x"]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"]))  # chance agreement 1: undefined
    assert math.isnan(cohen_kappa([], []))


def test_normalize_label_and_refused_indicator():
    assert normalize_label("2_full_refusal") == FR
    assert normalize_label(" Full_Compliance ") == FC
    assert normalize_label("") is None and normalize_label(math.nan) is None
    labels = pd.Series([FC, PR, FR, None])
    assert refused_indicator(labels).tolist()[:3] == [0.0, 1.0, 1.0]
    assert refused_indicator(labels, partial_counts=False).tolist()[:3] == [0.0, 0.0, 1.0]
    assert math.isnan(refused_indicator(labels).iloc[3])


def test_labeller_validity_hand_computed():
    frame = pd.DataFrame(
        {
            "model": ["m"] * 6,
            "should_refuse": [0, 0, 0, 0, 1, 1],
            "human": [FC, PR, FR, FC, FR, FR],
            "auto": [FC, FC, FR, FR, FR, None],
        }
    )
    (row,) = labeller_validity(frame, auto_col="auto", human_col="human").to_dict("records")
    assert (row["n"], row["n_missing"], row["n_safe"]) == (5, 1, 4)
    assert row["accuracy"] == pytest.approx(3 / 5)
    assert row["orr_human"] == pytest.approx(2 / 4) and row["orr_auto"] == pytest.approx(2 / 4)
    assert row["orr_diff"] == pytest.approx(0.0)
    # refused yes/no: human [0,1,1,0,1], auto [0,0,1,1,1]: p_o = 3/5, p_e = 0.6² + 0.4² = 0.52
    assert row["kappa_refused"] == pytest.approx((0.6 - 0.52) / 0.48)
    # 3 classes: human (fc, pr, fr) = (2, 1, 2), auto = (2, 0, 3): p_e = (4 + 0 + 6) / 25
    assert row["kappa"] == pytest.approx((0.6 - 0.4) / 0.6)
