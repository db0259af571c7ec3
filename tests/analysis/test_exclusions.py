"""Pre-registered exclusions and the participant flow on a hand-built study."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.exclusions import (
    REASONS,
    ExclusionRules,
    apply_exclusions,
    participant_exclusions,
    participant_flow,
)

RULES = {
    "attention_failures_max": 0,
    "min_median_seconds": 3,
    "straightline_run": 10,
    "require_complete": True,
}


def _ratings_for(participant, values, seconds, *, scale="helpfulness"):
    return [
        {
            "participant": participant,
            "item": f"i{k}",
            "scale": scale,
            "value": v,
            "seconds": s,
            "attention_check": 0,
            "attention_passed": None,
        }
        for k, (v, s) in enumerate(zip(values, seconds, strict=True))
    ]


def _check(participant, passed, item="att1"):
    return {
        "participant": participant,
        "item": item,
        "scale": "helpfulness",
        "value": 1,
        "seconds": 8,
        "attention_check": 1,
        "attention_passed": int(passed),
    }


@pytest.fixture
def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    varied = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]  # no run longer than 1
    slow = [6] * 12
    rows = []
    rows += _ratings_for("p1", varied, slow) + [_check("p1", True)]  # clean
    rows += _ratings_for("p2", varied, slow) + [_check("p2", False)]  # failed the check
    rows += _ratings_for("p3", varied, [2] * 7 + [9] * 5)  # median 2 s: speeding
    # ten 4s in a row, interrupted only by an attention check that is left out of the sequence
    p4 = _ratings_for("p4", [1] + [4] * 5 + [4] * 5 + [2], slow)
    rows += p4[:6] + [_check("p4", True)] + p4[6:]
    rows += _ratings_for("p5", varied[:4], slow[:4])  # stopped early
    rows += _ratings_for("p6", [3] * 12, [1] * 12)  # fast and straight-lined
    ratings = pd.DataFrame(rows)
    ratings["order"] = range(len(ratings))
    participants = pd.DataFrame(
        {
            "participant": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
            "consented": [1, 1, 1, 1, 1, 1, 0],
            "completed": [1, 1, 1, 1, 0, 1, 0],
        }
    )
    return participants, ratings


def test_rules_from_dict_defaults_and_validation():
    rules = ExclusionRules.from_dict(RULES)
    assert rules == ExclusionRules()  # the documented example is the default
    assert rules.to_dict() == RULES
    assert ExclusionRules.from_dict({"straightline_run": None}).straightline_run is None
    with pytest.raises(ValueError, match="unknown exclusion rule"):
        ExclusionRules.from_dict({"min_median_second": 3})
    with pytest.raises(TypeError):
        ExclusionRules.from_dict({"straightline_run": 2.5})
    with pytest.raises(TypeError):
        ExclusionRules.from_dict({"require_complete": "yes"})
    with pytest.raises(ValueError):
        ExclusionRules.from_dict({"attention_failures_max": -1})
    with pytest.raises(ValueError):
        ExclusionRules.from_dict({"straightline_run": 1})


def test_participant_exclusions_hand_computed(study):
    participants, ratings = study
    table = participant_exclusions(participants, ratings, ExclusionRules.from_dict(RULES))
    assert table.loc["p2", "attention_failures"] == 1 and table.loc["p1", "attention_failures"] == 0
    assert table.loc["p3", "median_seconds"] == 2.0
    assert table.loc["p1", "median_seconds"] == 6.0  # attention check (8 s) included: 12 x 6, 1 x 8
    assert table.loc["p4", "longest_run"] == 10 and table.loc["p1", "longest_run"] == 1
    assert table.loc["p6", "longest_run"] == 12
    assert table["exclusion_reason"].to_dict() == {
        "p1": "",
        "p2": "attention",
        "p3": "speeding",
        "p4": "straightlining",
        "p5": "incomplete",
        "p6": "speeding;straightlining",
        "p7": "",  # did not consent: outside the sample, not "excluded"
    }
    assert table["analysed"].to_dict() == {
        "p1": True,
        "p2": False,
        "p3": False,
        "p4": False,
        "p5": False,
        "p6": False,
        "p7": False,
    }
    assert not table.loc["p7", "excluded"]


def test_participant_flow_hand_computed(study):
    participants, ratings = study
    rules = ExclusionRules.from_dict(RULES)
    flow = participant_flow(participant_exclusions(participants, ratings, rules), rules)
    assert flow == {
        "entered": 7,
        "consented": 6,
        "not_consented": 1,
        "completed": 5,
        "excluded": 5,
        "excluded_by_reason": {"incomplete": 1, "attention": 1, "speeding": 2, "straightlining": 2},
        "excluded_first_reason": {
            "incomplete": 1,
            "attention": 1,
            "speeding": 2,
            "straightlining": 1,
        },
        "analysed": 1,
        "rules": RULES,
    }
    assert sum(flow["excluded_first_reason"].values()) == flow["excluded"]


def test_thresholds_are_inclusive_where_documented(study):
    participants, ratings = study
    # a run of exactly 10 is straight-lining at 10 but not at 11; one failure is fine at max 1
    lenient = ExclusionRules(attention_failures_max=1, straightline_run=11, min_median_seconds=2)
    table = participant_exclusions(participants, ratings, lenient)
    assert table.loc["p2", "exclusion_reason"] == ""
    assert table.loc["p4", "exclusion_reason"] == ""
    assert table.loc["p3", "exclusion_reason"] == ""  # median 2 s is not below 2 s
    assert table.loc["p6", "exclusion_reason"] == "speeding;straightlining"


def test_switched_off_rules_need_no_data(study):
    participants, ratings = study
    rules = ExclusionRules(
        attention_failures_max=None,
        min_median_seconds=None,
        straightline_run=None,
        require_complete=False,
    )
    bare = ratings.drop(columns=["seconds", "attention_passed"])
    table = participant_exclusions(participants.drop(columns="completed"), bare, rules)
    assert not table["excluded"].any() and table["analysed"].sum() == 6
    flow = participant_flow(table, rules)
    assert flow["completed"] is None and flow["analysed"] == 6


def test_missing_data_for_an_active_rule_is_an_error(study):
    participants, ratings = study
    rules = ExclusionRules()
    with pytest.raises(ValueError, match="completed"):
        participant_exclusions(participants.drop(columns="completed"), ratings, rules)
    with pytest.raises(ValueError, match="seconds"):
        participant_exclusions(participants, ratings.drop(columns="seconds"), rules)
    with pytest.raises(ValueError, match="attention"):
        participant_exclusions(participants, ratings.drop(columns="attention_passed"), rules)
    with pytest.raises(ValueError, match="not in the participants frame"):
        participant_exclusions(participants[participants.participant != "p1"], ratings, rules)


def test_attention_failures_column_takes_precedence(study):
    participants, ratings = study
    counted = participants.assign(attention_failures=[0, 0, 0, 0, 0, 3, 0])
    table = participant_exclusions(counted, ratings, ExclusionRules())
    assert table.loc["p2", "exclusion_reason"] == ""
    assert table.loc["p6", "exclusion_reason"] == "attention;speeding;straightlining"


def test_apply_exclusions_fills_ratings_columns(study):
    participants, ratings = study
    table = participant_exclusions(participants, ratings, ExclusionRules())
    out = apply_exclusions(ratings, table)
    assert set(out.loc[out.participant == "p6", "exclusion_reason"]) == {"speeding;straightlining"}
    assert set(out.loc[out.participant == "p1", "excluded"]) == {0}
    assert set(out.loc[out.participant == "p3", "excluded"]) == {1}
    assert list(REASONS) == ["incomplete", "attention", "speeding", "straightlining"]
