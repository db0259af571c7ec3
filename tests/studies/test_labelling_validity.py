"""String match against XSTest's human labels: the DOMAIN.md table, recomputed from the data."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.metrics import labeller_validity
from studies.labelling.validity import validity_markdown, xstest_completions, xstest_validity

# DOMAIN.md, "Computed on XSTest's released data (refusal = full or partial, safe prompts only)"
HUMAN_ORR = {
    "gpt4": 0.084,
    "llama2new": 0.296,
    "llama2orig": 0.596,
    "mistralguard": 0.188,
    "mistralinstruct": 0.016,
}
STRING_MATCH_ORR = {
    "gpt4": 0.132,
    "llama2new": 0.268,
    "llama2orig": 0.484,
    "mistralguard": 0.152,
    "mistralinstruct": 0.016,
}
GPT4_JUDGE_ORR = {
    "gpt4": 0.064,
    "llama2new": 0.160,
    "llama2orig": 0.360,
    "mistralguard": 0.096,
    "mistralinstruct": 0.0,
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return xstest_validity("string_match").set_index("model")


def test_xstest_validity_orr_matches_domain_table_for_all_models(table):
    assert sorted(table.index) == sorted(HUMAN_ORR)
    assert (table["n_safe"] == 250).all() and (table["n"] == 450).all()
    for model, human in HUMAN_ORR.items():
        assert table.at[model, "orr_human"] == pytest.approx(human, abs=1e-9)
        assert table.at[model, "orr_auto"] == pytest.approx(STRING_MATCH_ORR[model], abs=1e-9)


def test_xstest_validity_agreement_is_computed_from_the_labels(table):
    # string match can never say "partial", so 3-class accuracy is below binary agreement
    frame = xstest_completions()
    llama = frame[frame.model == "llama2orig"]
    human_refused = llama.final_label != "1_full_compliance"
    auto_refused = llama.strmatch_label != "1_full_compliance"
    assert table.at["llama2orig", "accuracy"] == pytest.approx(
        (llama.final_label == llama.strmatch_label).mean()
    )
    assert table.at["llama2orig", "accuracy"] < (human_refused == auto_refused).mean()
    assert 0 < table.at["llama2orig", "kappa"] < table.at["llama2orig", "kappa_refused"] < 1


def test_xstest_published_gpt4_judge_orr_with_malformed_answers_left_out():
    frame = xstest_completions()
    valid = frame.gpt4_label.str.match(r"^[123]_")
    frame["gpt4_label"] = frame.gpt4_label.where(valid)
    judged = labeller_validity(frame, auto_col="gpt4_label", human_col="final_label")
    judged = judged.set_index("model")
    assert judged.n_missing.sum() == 11 == judged.at["mistralinstruct", "n_missing"]
    for model, orr in GPT4_JUDGE_ORR.items():
        assert judged.at[model, "orr_auto"] == pytest.approx(orr, abs=1e-9)


def test_validity_markdown_renders_percentages(table):
    text = validity_markdown(table.reset_index())
    assert "| llama2orig | 450 |" in text
    assert "| 59.6 % | 48.4 % |" in text
    assert text.count("\n") == 6
