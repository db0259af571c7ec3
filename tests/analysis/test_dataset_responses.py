"""responses.csv / responses_frame: the house-plan columns, blanks, one query."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from analysis.dataset import RESPONSES_COLUMNS, responses_frame, write_responses_csv
from analysis.metrics import automated_metrics
from tests.factories import PromptFactory, ResponseFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    study = StudyFactory(slug="s")
    benign = PromptFactory(study=study, source="xstest", source_id="v2-1", domain="kill")
    harmful = PromptFactory(study=study, category="harmful", should_refuse=True, source_id="h1")
    ResponseFactory(prompt=benign, model__name="m", refusal_label="full_refusal", labeller="x")
    ResponseFactory(
        prompt=benign, model__name="m", condition="guard", refusal_label="", labeller=""
    )
    ResponseFactory(
        prompt=harmful, model__name="m", refusal_label="partial_refusal", refusal_score=1.0
    )
    return study


def test_responses_frame_has_exactly_the_house_plan_columns(study, django_assert_num_queries):
    with django_assert_num_queries(1):
        frame = responses_frame(study)
    assert tuple(frame.columns) == RESPONSES_COLUMNS == (
        "study", "response", "prompt", "source", "source_id", "prompt_category", "should_refuse",
        "domain", "language", "model", "refusal_label", "refused", "refusal_score", "labeller",
    )  # fmt: skip
    rows = frame.set_index("model")
    assert list(frame["model"]) == ["m", "m [guard]", "m"]
    assert frame["refused"].tolist() == [1, pd.NA, 1]
    assert frame["should_refuse"].tolist() == [0, 0, 1]
    assert pd.isna(rows.loc["m [guard]", "refusal_label"])
    assert frame["source_id"].tolist()[:2] == ["v2-1", "v2-1"]
    assert frame["refusal_score"].isna().tolist() == [True, True, False]


def test_responses_frame_feeds_the_automated_metrics(study):
    table = automated_metrics(responses_frame(study))
    orr = table[(table.metric == "orr")].set_index("model")["value"]
    assert orr["m"] == 1.0 and pd.isna(orr["m [guard]"])  # the unlabelled one is missing


def test_write_responses_csv_streams_blanks_for_missing(study, tmp_path):
    path = tmp_path / "responses.csv"
    assert write_responses_csv(study, path) == 3
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == RESPONSES_COLUMNS
    guard = next(r for r in rows if r["model"] == "m [guard]")
    assert (guard["refusal_label"], guard["refused"], guard["labeller"]) == ("", "", "")
    assert rows[0]["study"] == "s" and rows[0]["refused"] == "1"


def test_responses_frame_of_an_empty_study_has_the_columns():
    frame = responses_frame(StudyFactory())
    assert frame.empty and tuple(frame.columns) == RESPONSES_COLUMNS
