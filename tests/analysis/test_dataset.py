"""analysis.dataset: the tidy files of the house plan, built from the database."""

from __future__ import annotations

import csv
import json

import pytest
from django.core.management import call_command

from analysis import dataset
from annotation.models import Participant, Rating, RatingValue
from annotation.services import assignment_claim_next
from annotation.simulation import simulate_participants
from tests.annotation.conftest import build_study, new_participant

pytestmark = pytest.mark.django_db

HOUSE_RATINGS = ["study", "participant", "item", "prompt", "prompt_category", "should_refuse", "domain", "language", "model", "response", "refusal_label", "refused", "refusal_score", "refusal_style", "model_orr", "scale", "value", "seconds", "attention_check", "excluded", "exclusion_reason"]
HOUSE_COMPARISONS = ["study", "participant", "item", "prompt", "model_a", "model_b", "response_a", "response_b", "shown_left", "choice", "seconds", "excluded", "exclusion_reason"]


@pytest.fixture
def piloted(db):
    study = build_study(
        prompts=12, models=3, items_per_participant=8, ratings_per_item=3, attention_check_interval=4, attention=1,
        exclusion_rules={"attention_failures_max": 0, "min_median_seconds": 3, "straightline_run": 6, "require_complete": True},
    )
    from studies.models import Response

    labels = ["full_compliance", "full_refusal", "partial_refusal"]
    for i, response in enumerate(Response.objects.order_by("pk")):
        response.refusal_label = labels[i % 3]
        response.save(update_fields=["refusal_label"])
    simulate_participants(study=study, n=12, seed=5, speeders=0.25)
    return study


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_export_study_writes_house_plan_files(piloted, tmp_path):
    counts = dataset.export_study(piloted, tmp_path)
    assert set(counts) == {"ratings.csv", "comparisons.csv", "responses.csv", "participants.csv"}
    with open(tmp_path / "ratings.csv", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[: len(HOUSE_RATINGS)] == HOUSE_RATINGS
    with open(tmp_path / "comparisons.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh))[: len(HOUSE_COMPARISONS)] == HOUSE_COMPARISONS
    assert counts["ratings.csv"] == RatingValue.objects.count()
    assert counts["comparisons.csv"] == Rating.objects.filter(item__kind="pair").count()
    assert counts["participants.csv"] == Participant.objects.count() == 12
    codebook = json.loads((tmp_path / "codebook.json").read_text())
    assert [s["key"] for s in codebook["scales"]] == ["helpfulness", "frustration"]
    assert set(codebook["files"]["ratings.csv"]) >= set(HOUSE_RATINGS)
    assert codebook["exclusion_rules"]["straightline_run"] == 6


def test_export_ratings_values_and_codes(piloted, tmp_path):
    dataset.export_study(piloted, tmp_path)
    rows = read(tmp_path / "ratings.csv")
    pseudonyms = set(Participant.objects.values_list("pseudonym", flat=True))
    assert {r["participant"] for r in rows} <= pseudonyms
    for r in rows:
        assert r["attention_check"] in {"0", "1"} and r["excluded"] in {"0", "1"}
        if r["item_kind"] == "single":
            assert r["refused"] == ("0" if r["refusal_label"] == "full_compliance" else "1")
            assert r["model"] in {"m0", "m1", "m2"} and r["model_orr"] != ""
            assert 1 <= int(r["value"]) <= 7
        if r["attention_check"] == "1":
            assert r["model"] == "" and r["prompt"] == ""
    # Every model's ORR equals the share of its should_refuse=0 responses that refuse.
    responses = read(tmp_path / "responses.csv")
    for model in {"m0", "m1", "m2"}:
        mine = [r for r in responses if r["model"] == model and r["should_refuse"] == "0"]
        expected = sum(r["refused"] == "1" for r in mine) / len(mine)
        seen = {float(r["model_orr"]) for r in rows if r["model"] == model}
        assert len(seen) == 1 and seen.pop() == pytest.approx(expected)


def test_export_applies_preregistered_exclusions(piloted, tmp_path):
    dataset.export_study(piloted, tmp_path)
    people = {p["participant"]: p for p in read(tmp_path / "participants.csv")}
    speeders = Participant.objects.filter(platform_meta__simulated="1")
    assert speeders.count() == 12
    excluded = {name for name, p in people.items() if p["excluded"] == "1"}
    assert excluded, "the simulated straight-liners must be caught"
    for name in excluded:
        assert people[name]["exclusion_reason"]
        assert float(people[name]["median_seconds"]) < 3 or int(people[name]["longest_run"]) >= 6
    for r in read(tmp_path / "ratings.csv"):
        assert (r["excluded"] == "1") == (r["participant"] in excluded)


def test_export_comparisons_shown_left_matches_assignment(piloted, tmp_path):
    dataset.export_study(piloted, tmp_path)
    rows = read(tmp_path / "comparisons.csv")
    assert rows
    ratings = {
        (r.item_id, r.participant.pseudonym): r
        for r in Rating.objects.filter(item__kind="pair").select_related("assignment", "participant")
    }
    assert len(rows) == len(ratings)
    for row in rows:
        rating = ratings[(int(row["item"]), row["participant"])]
        assert row["shown_left"] == ("a" if rating.assignment.left_is_a else "b")
        assert row["choice"] == rating.choice
        assert row["model_a"] != row["model_b"]


def test_iter_ratings_csv_streams_same_content(piloted, tmp_path):
    dataset.export_study(piloted, tmp_path)
    streamed = "".join(dataset.iter_ratings_csv(piloted))
    on_disk = (tmp_path / "ratings.csv").read_text(encoding="utf-8")
    assert streamed.splitlines() == on_disk.splitlines()


def test_export_never_contains_raw_crowd_ids(db, tmp_path, client):
    study = build_study(items_per_participant=2)
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=RAWID-5f3a9c&STUDY_ID=S&SESSION_ID=X")
    client.post(f"/s/{study.slug}/consent/", {"decision": "agree"})
    dataset.export_study(study, tmp_path)
    for path in tmp_path.iterdir():
        assert "RAWID-5f3a9c" not in path.read_text(encoding="utf-8")


def test_export_and_analyze_commands(piloted, tmp_path, capsys):
    call_command("export_study", piloted.slug, "--out", str(tmp_path))
    assert "ratings.csv" in capsys.readouterr().out
    call_command("analyze", piloted.slug, "--n-boot", "20", "--include-excluded")
    result = json.loads(capsys.readouterr().out)
    assert result["flow"]["entered"] == 12 and result["study"]["slug"] == piloted.slug
    assert {"models", "reliability", "automated_metrics", "pairwise"} <= set(result)
    # The same numbers come out of the exported CSV files.
    call_command(
        "analyze", "--ratings", str(tmp_path / "ratings.csv"), "--comparisons", str(tmp_path / "comparisons.csv"),
        "--n-boot", "20", "--include-excluded", "--seed", str(piloted.random_seed),
    )
    from_csv = json.loads(capsys.readouterr().out)
    for a, b in zip(result["models"], from_csv["models"], strict=True):
        assert [f["estimate"] for f in a["fixed"]] == pytest.approx([f["estimate"] for f in b["fixed"]], rel=1e-9)
    assert result["pairwise"]["bradley_terry"] == from_csv["pairwise"]["bradley_terry"]


def test_flow_counts_participants_without_ratings_apart(db):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1,
                        exclusion_rules={"min_median_seconds": None, "straightline_run": None})
    late = new_participant(study, "late")  # consented just before the study filled up
    simulate_participants(study=study, n=1, seed=1)
    assert assignment_claim_next(participant=late).done  # every item at quota: nothing to do
    flow = dataset.study_flow(study)
    assert flow["consented"] == 2
    assert flow["no_ratings"] == 1
    assert flow["analysed"] == 1
