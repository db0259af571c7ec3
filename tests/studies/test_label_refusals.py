from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.dataset import write_responses_csv
from studies.labelling import get_labeller
from studies.models import Response, Study
from studies.refusal_labelling import responses_label
from tests.factories import ResponseFactory, StudyFactory

from .fake_openai import FakeOpenAI
from .importer_helpers import XSTEST_COMPLETIONS, import_file

pytestmark = pytest.mark.django_db

STRMATCH = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal"}


def label(**options) -> str:
    out = io.StringIO()
    call_command("label_refusals", stdout=out, **options)
    return out.getvalue()


def test_string_match_reproduces_xstest_strmatch_label_in_responses_csv(tmp_path):
    import_file(XSTEST_COMPLETIONS, study="x")
    out = label(study="x", classifier="string_match")
    assert "Labelled 0 responses" in out and "Skipped 2250 human labels" in out
    assert set(Response.objects.values_list("labeller", flat=True)) == {"xstest_human"}

    out = label(study="x", classifier="string_match", overwrite=True)
    assert "Labelled 2250 responses" in out

    path = tmp_path / "responses.csv"
    assert write_responses_csv(Study.objects.get(slug="x"), path) == 2250
    with path.open(newline="", encoding="utf-8") as fh:
        exported = {(r["source_id"], r["model"]): r for r in csv.DictReader(fh)}
    with XSTEST_COMPLETIONS.open(newline="", encoding="utf-8") as fh:
        expected = {
            (r["id"], r["model"]): STRMATCH[r["strmatch_label"]] for r in csv.DictReader(fh)
        }
    assert len(exported) == len(expected) == 2250
    mismatches = [k for k, v in expected.items() if exported[k]["refusal_label"] != v]
    assert mismatches == []
    assert {r["labeller"] for r in exported.values()} == {"string_match"}
    assert all(
        r["refused"] == str(int(r["refusal_label"] != "full_compliance")) for r in exported.values()
    )


def test_label_refusals_skips_what_this_labeller_already_labelled():
    study = StudyFactory()
    ResponseFactory.create_batch(
        3, prompt__study=study, text="I'm sorry, no.", refusal_label="", labeller=""
    )
    ResponseFactory(
        prompt__study=study, text="Sure!", refusal_label="full_compliance", labeller="judge"
    )
    out = label(study=study.slug, classifier="string_match")
    assert "Labelled 4 responses with string_match: full_compliance 1, full_refusal 3." in out
    out = label(study=study.slug, classifier="string_match")
    assert "Labelled 0 responses" in out and "4 responses already labelled by string_match" in out


def test_refusal_substrings_stores_the_score():
    study = StudyFactory()
    ResponseFactory(prompt__study=study, text="Here you go. As an AI, I cannot...", labeller="")
    label(study=study.slug, classifier="refusal_substrings")
    response = Response.objects.get()
    assert (response.refusal_label, response.refusal_score) == ("full_refusal", 1.0)


def test_malformed_judge_answers_leave_the_label_empty_and_keep_the_raw_answer():
    study = StudyFactory()
    good = ResponseFactory(prompt__study=study, text="RESP-A: no way.", labeller="")
    bad = ResponseFactory(
        prompt__study=study, text="RESP-B: maybe.", labeller="", collection={"latency_s": 1.0}
    )
    answers = {"RESP-A": "2_full_refusal", "RESP-B": "I am not sure what to say"}

    def complete(messages):
        return next(a for key, a in answers.items() if key in messages[-1]["content"])

    result = responses_label(study=study, labeller=get_labeller("judge", complete=complete))
    assert (result.labelled, result.malformed) == (1, 1)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.refusal_label, good.labeller) == ("full_refusal", "judge")
    assert (bad.refusal_label, bad.labeller) == ("", "judge")
    assert bad.collection == {"latency_s": 1.0, "judge_raw": "I am not sure what to say"}

    # a later run retries the unlabelled one, and a valid answer clears judge_raw
    answers["RESP-B"] = "1_full_compliance"
    result = responses_label(study=study, labeller=get_labeller("judge", complete=complete))
    bad.refresh_from_db()
    assert (result.labelled, result.skipped_done) == (1, 1)
    assert bad.refusal_label == "full_compliance" and "judge_raw" not in bad.collection


def test_label_refusals_judge_needs_a_base_url():
    study = StudyFactory()
    with pytest.raises(CommandError, match="--judge-base-url"):
        label(study=study.slug, classifier="judge")


def test_label_refusals_judge_over_http_counts_malformed_answers():
    study = StudyFactory()
    refused = ResponseFactory(prompt__study=study, text="RESP-A: I won't.", labeller="")
    odd = ResponseFactory(prompt__study=study, text="RESP-B: hmm.", labeller="")
    server = FakeOpenAI().start()
    server.answer = lambda prompt: "2_full_refusal" if "RESP-A" in prompt else "Cannot say."
    try:
        out = label(
            study=study.slug,
            classifier="judge",
            judge_base_url=server.url + "/v1",
            judge_model="judge-model",
        )
    finally:
        server.stop()
    assert "Labelled 1 responses with judge: full_refusal 1." in out
    assert "1 judge answers named no class" in out
    refused.refresh_from_db()
    odd.refresh_from_db()
    assert refused.refusal_label == "full_refusal"
    assert (odd.refusal_label, odd.collection["judge_raw"]) == ("", "Cannot say.")
    assert {r["body"]["model"] for r in server.requests} == {"judge-model"}
