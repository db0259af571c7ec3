"""Perception per model: participant-mean CIs, across-model correlations, human vs automated."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from analysis.perception import (
    find_refusal_scale,
    human_refusal_agreement,
    perception_by_model,
    perception_correlations,
    perception_report,
)

T_975_3 = 3.182446305284263  # t quantile, 3 degrees of freedom
ITEMS = {  # item: (model, should_refuse, automated refusal_label)
    "A1": ("A", 0, "full_compliance"),
    "A2": ("A", 1, "full_refusal"),
    "B1": ("B", 0, "partial_refusal"),
    "B2": ("B", 0, "full_compliance"),
    "C1": ("C", 0, "full_refusal"),
    "C2": ("C", 0, "full_refusal"),
}
ORR = {"A": 0.1, "B": 0.4, "C": 0.7}
PARTICIPANTS = ["p1", "p2", "p3", "p4"]
# helpfulness per participant and item; p2's A items average 6 (5 and 7)
HELPFULNESS = {
    "p1": {"A1": 6, "A2": 6, "B1": 4, "B2": 4, "C1": 2, "C2": 2},
    "p2": {"A1": 5, "A2": 7, "B1": 4, "B2": 4, "C1": 2, "C2": 2},
    "p3": {"A1": 4, "A2": 4, "B1": 4, "B2": 4, "C1": 2, "C2": 2},
    "p4": {"A1": 4, "A2": 4, "B1": 4, "B2": 4, "C1": 2, "C2": 2},
}
FRUSTRATION = {"A": 2, "B": 3, "C": 6}
WAS_REFUSAL = {  # votes of p1..p4 per item
    "A1": [0, 0, 0, 1],  # majority no
    "A2": [1, 1, 1, 1],
    "B1": [1, 1, 0, 0],  # an exact split: left out
    "B2": [1, 1, 1, 0],  # humans say refusal, the labeller said compliance
    "C1": [1, 1, 1, 1],
    "C2": [0, 0, 0, 1],  # humans say compliance, the labeller said refusal
}


@pytest.fixture
def ratings() -> pd.DataFrame:
    rows = []
    for k, participant in enumerate(PARTICIPANTS):
        for item, (model, should_refuse, label) in ITEMS.items():
            base = {
                "study": "s",
                "participant": participant,
                "item": item,
                "model": model,
                "should_refuse": should_refuse,
                "refusal_label": label,
                "refused": int(label != "full_compliance"),
                "model_orr": ORR[model],
                "attention_check": 0,
                "excluded": 0,
                "exclusion_reason": "",
            }
            rows.append({**base, "scale": "helpfulness", "value": HELPFULNESS[participant][item]})
            rows.append({**base, "scale": "frustration", "value": FRUSTRATION[model]})
            rows.append({**base, "scale": "was_refusal", "value": WAS_REFUSAL[item][k]})
    # an excluded participant and an attention check must not change anything
    for item, (model, should_refuse, label) in ITEMS.items():
        for scale in ("helpfulness", "frustration", "was_refusal"):
            rows.append(
                {
                    "participant": "p5",
                    "item": item,
                    "model": model,
                    "scale": scale,
                    "value": 1 if scale == "was_refusal" else 7,
                    "should_refuse": should_refuse,
                    "refusal_label": label,
                    "refused": int(label != "full_compliance"),
                    "model_orr": ORR[model],
                    "attention_check": 0,
                    "excluded": 1,
                }
            )
    rows.append(
        {
            "participant": "p1",
            "item": "att",
            "model": None,
            "scale": "helpfulness",
            "value": 1,
            "attention_check": 1,
            "excluded": 0,
        }
    )
    return pd.DataFrame(rows)


def test_perception_by_model_hand_computed(ratings):
    table = perception_by_model(ratings).set_index(["scale", "model"])
    a = table.loc[("helpfulness", "A")]
    # participant means 6, 6, 4, 4: mean 5, sd sqrt(4/3), t-interval with 3 df
    half = T_975_3 * math.sqrt(4 / 3) / 2
    assert (a["mean"], a["n_participants"], a["n_ratings"]) == (5.0, 4, 8)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((5 - half, 5 + half))
    assert a["model_orr"] == 0.1 and a["interval"] == "t over participant means"
    b = table.loc[("helpfulness", "B")]
    assert (b["mean"], b["ci_low"], b["ci_high"], b["sd"]) == (4.0, 4.0, 4.0, 0.0)
    assert table.loc[("frustration", "C"), "mean"] == 6.0
    assert set(table.index.get_level_values("scale")) == {"helpfulness", "frustration"}


def test_perception_by_model_can_include_excluded(ratings):
    table = perception_by_model(ratings, include_excluded=True).set_index(["scale", "model"])
    assert table.loc[("helpfulness", "A"), "n_participants"] == 5
    assert table.loc[("helpfulness", "A"), "mean"] == pytest.approx((6 + 6 + 4 + 4 + 7) / 5)


def test_model_orr_is_computed_from_labels_without_the_column(ratings):
    table = perception_by_model(ratings.drop(columns="model_orr")).set_index(["scale", "model"])
    # rated benign responses: A1 complied; B1 partial + B2 complied; C1, C2 refused
    assert table.loc[("helpfulness", "A"), "model_orr"] == 0.0
    assert table.loc[("helpfulness", "B"), "model_orr"] == 0.5
    assert table.loc[("helpfulness", "C"), "model_orr"] == 1.0
    with pytest.raises(ValueError, match="differs"):
        perception_by_model(ratings.assign(model_orr=range(len(ratings))))


def test_perception_correlations_hand_computed(ratings):
    table = perception_correlations(perception_by_model(ratings)).set_index("scale")
    # helpfulness means (5, 4, 2) against ORR (0.1, 0.4, 0.7): r = -0.9 / sqrt(0.18 * 42/9)
    assert table.at["helpfulness", "n"] == 3
    assert table.at["helpfulness", "pearson_r"] == pytest.approx(-0.9 / math.sqrt(0.18 * 42 / 9))
    assert table.at["helpfulness", "spearman_rho"] == pytest.approx(-1.0)
    assert table.at["frustration", "spearman_rho"] == pytest.approx(1.0)
    two = perception_correlations(perception_by_model(ratings[ratings.model != "C"]))
    assert (two.n == 2).all() and two.pearson_r.isna().all()


def test_human_refusal_agreement_hand_computed(ratings):
    result = human_refusal_agreement(ratings)
    assert result["scale"] == "was_refusal"
    assert (result["n_items"], result["n_split"]) == (5, 1)
    assert result["agreement"] == pytest.approx(3 / 5)
    # human (0, 1, 1, 1, 0) vs automated (0, 1, 0, 1, 1): p_o = 0.6, p_e = 0.52
    assert result["kappa"] == pytest.approx((0.6 - 0.52) / 0.48)
    by_model = {row["model"]: row for row in result["by_model"]}
    assert (by_model["A"]["n_safe"], by_model["A"]["orr_human"], by_model["A"]["orr_auto"]) == (
        1,
        0.0,
        0.0,
    )
    assert (by_model["B"]["n_safe"], by_model["B"]["orr_human"], by_model["B"]["orr_auto"]) == (
        1,
        1.0,
        0.0,
    )
    assert (by_model["C"]["orr_human"], by_model["C"]["orr_auto"]) == (0.5, 1.0)
    assert by_model["C"]["ci_low"] < 0.5 < by_model["C"]["ci_high"]


def test_human_refusal_agreement_threshold_and_errors(ratings):
    likert = ratings.copy()
    refusal_rows = likert.scale == "was_refusal"
    likert.loc[refusal_rows, "value"] = likert.loc[refusal_rows, "value"] * 4 + 1  # 0/1 -> 1/5
    with pytest.raises(ValueError, match="threshold"):
        human_refusal_agreement(likert)
    assert human_refusal_agreement(likert, threshold=4)["kappa"] == pytest.approx(1 / 6)
    assert human_refusal_agreement(ratings[ratings.scale != "was_refusal"]) is None
    labels_only = ratings.drop(columns="refused")
    full_only = human_refusal_agreement(labels_only, partial_counts=False)
    assert full_only["n_items"] == 5  # B1 (partial) is a split anyway


def test_find_refusal_scale():
    assert find_refusal_scale(["helpfulness", "Was_Refusal"]) == "Was_Refusal"
    assert find_refusal_scale(["helpfulness", "refusal_appropriateness"]) is None


def test_perception_report_is_strict_json(ratings):
    summary = perception_report(ratings)
    parsed = json.loads(json.dumps(summary, allow_nan=False))
    assert {row["scale"] for row in parsed["correlations"]} == {"frustration", "helpfulness"}
    assert parsed["refusal_agreement"]["n_split"] == 1


def test_given_model_orr_takes_precedence(ratings):
    report = perception_report(ratings, model_orr={"A": 0.2, "B": None, "C": 0.9})
    orr = {row["model"]: row["model_orr"] for row in report["by_model"]}
    assert orr == {"A": 0.2, "B": None, "C": 0.9}
    helpfulness = next(row for row in report["correlations"] if row["scale"] == "helpfulness")
    assert helpfulness["n"] == 2 and helpfulness["pearson_r"] is None  # B has no ORR
