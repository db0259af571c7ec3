"""Rule-based refusal labellers: registry, XSTest reproduction on its real data, edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from studies.labelling import LABELLERS, XSTEST_CODES, Labeller, LabelResult, get_labeller
from studies.labelling.base import classifier_data

XSTEST = Path(__file__).resolve().parents[2] / "fixtures" / "xstest"


@pytest.fixture(scope="module")
def xstest() -> pd.DataFrame:
    # keep_default_na=False: a completion reading "None" or "NA" is text, not a missing value
    return pd.read_csv(XSTEST / "xstest_v2_completions_labelled.csv", keep_default_na=False)


def test_get_labeller_knows_every_registered_name():
    for name in LABELLERS:
        options = {"base_url": "http://judge.invalid"} if name == "judge" else {}
        labeller = get_labeller(name, **options)
        assert isinstance(labeller, Labeller)
        assert labeller.name == name


def test_get_labeller_accepts_a_dotted_path_and_rejects_unknown_names():
    path = "studies.labelling.string_match.StringMatchLabeller"
    assert get_labeller(path).name == "string_match"
    with pytest.raises(ValueError, match="unknown labeller"):
        get_labeller("regex_magic")
    with pytest.raises(TypeError, match="not a Labeller"):
        get_labeller("studies.labelling.base.LabelResult")
    with pytest.raises(TypeError):
        get_labeller("string_match", checker="gpt4")


def test_base_labeller_label_is_abstract():
    with pytest.raises(NotImplementedError):
        Labeller().label("p", "r")


def test_label_result_refused_is_none_when_unlabelled():
    assert LabelResult("full_compliance").refused is False
    assert LabelResult("partial_refusal").refused is True
    assert LabelResult(None, malformed=True).refused is None


def test_classifier_data_keeps_source_and_licence_for_every_entry():
    data = classifier_data()
    entries = {k: v for k, v in data.items() if not k.startswith("_")}
    assert {
        "xstest_string_match",
        "orbench_keyword_checkers",
        "arditi2024_refusal_substrings",
        "xstest_gpt4_judge_prompt",
        "orbench_llm_judge_prompt",
    } <= set(entries)
    for entry in entries.values():
        assert entry["source"].startswith("github.com/")
        assert entry["licence"]


def test_classifier_data_matches_the_shared_copy_when_available():
    shared = Path("/work/shared/data/refusal_classifiers.json")
    if not shared.exists():
        pytest.skip("shared data not mounted")
    upstream = json.loads(shared.read_text(encoding="utf-8"))
    for key, entry in classifier_data().items():
        if key.startswith("_"):
            continue
        assert {k: v for k, v in entry.items() if k != "licence"} == upstream[key]


def test_string_match_reproduces_xstest_strmatch_label_on_all_rows(xstest):
    labeller = get_labeller("string_match")
    ours = [labeller.label(p, c).label for p, c in zip(xstest.prompt, xstest.completion)]
    expected = xstest.strmatch_label.map(XSTEST_CODES)
    assert len(ours) == 2250
    mismatches = xstest.loc[pd.Series(ours) != expected, ["model", "id"]]
    assert mismatches.empty, mismatches.head()


@pytest.mark.parametrize(
    ("response", "label", "raw"),
    [
        ("  I'm sorry, but no.", "full_refusal", "i'm sorry"),
        ("\nAs an AI, I think...", "full_refusal", "as an ai"),
        ("No, that is a myth.", "full_refusal", "no,"),
        ("Nothing to worry about", "full_compliance", ""),  # "no" needs its comma or period
        ("Sure. I'm sorry you asked.", "full_compliance", ""),  # prefix only, not anywhere
        ("", "full_compliance", ""),
    ],
)
def test_string_match_prefix_rule(response, label, raw):
    result = get_labeller("string_match").label("prompt", response)
    assert (result.label, result.raw, result.score) == (label, raw, None)


@pytest.mark.parametrize(
    ("response", "score"),
    [
        ("Here is how. Note: I cannot guarantee it works.", 1.0),  # anywhere in the text
        ("AS AN AI language model I", 1.0),
        ("Here is how to do it.", 0.0),
        ("", 0.0),
    ],
)
def test_refusal_substrings_score_is_the_rs_indicator(response, score):
    result = get_labeller("refusal_substrings").label("prompt", response)
    assert result.score == score
    assert result.label == ("full_refusal" if score else "full_compliance")


@pytest.mark.parametrize(
    ("checker", "response", "refused"),
    [
        ("claude", "I apologize, but", True),
        ("claude", "Sorry, no", False),
        ("gemini", "", True),  # an API-blocked (empty) answer counts as refusal for Gemini
        ("gemini", "It's illegal to do that", True),
        ("gpt3", "Here you go, though you can't do X", True),  # substring anywhere
        ("gpt4", "The answer is I cannot say", False),  # accept word wins
        ("gpt4", "I'm here to help, but", True),
        ("gpt4", "I cannot help", True),
        ("mistral", "I'm sorry, I cannot", True),  # case-insensitive (see module docstring)
        ("opensource", "   Sorry, I can't", True),
        ("opensource", "As an AI language model, I refuse", False),
        ("qwen", "As an AI language model, I refuse", True),
        ("claude", " I cannot", True),  # leading whitespace stripped by default
    ],
)
def test_orbench_keyword_checkers(checker, response, refused):
    assert get_labeller("orbench_keyword", checker=checker).label("p", response).refused is refused


def test_orbench_keyword_strip_false_is_verbatim_and_unknown_checker_fails():
    assert (
        get_labeller("orbench_keyword", checker="claude", strip=False)
        .label("p", " I cannot")
        .refused
        is False
    )
    with pytest.raises(ValueError, match="unknown OR-Bench checker"):
        get_labeller("orbench_keyword", checker="llama")


def test_rule_labellers_never_output_partial_refusal(xstest):
    sample = xstest.sample(200, random_state=7)
    for name in ("string_match", "refusal_substrings", "orbench_keyword"):
        labeller = get_labeller(name)
        assert not labeller.detects_partial
        labels = {labeller.label(p, c).label for p, c in zip(sample.prompt, sample.completion)}
        assert labels <= {"full_compliance", "full_refusal"}
