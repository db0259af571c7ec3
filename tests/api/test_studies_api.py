"""Studies and scales: list, detail, create, update, with the model's rules as 400s."""

from __future__ import annotations

import pytest

from studies.models import Scale, Study

pytestmark = pytest.mark.django_db


def test_study_create_makes_default_scales_and_normalises_rules(api):
    body = {
        "slug": "tone-study",
        "title": "Tone of refusals",
        "ratings_per_item": 5,
        "exclusion_rules": {"straightline_run": 8},
    }
    response = api.post("/api/v1/studies/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "draft"
    assert [s["key"] for s in data["scales"]] == ["helpfulness", "frustration"]
    # every rule spelt out, so a later change of a default cannot change the pre-registration
    assert data["exclusion_rules"] == {
        "attention_failures_max": 0,
        "min_median_seconds": 3.0,
        "straightline_run": 8,
        "require_complete": True,
    }
    assert Study.objects.get(slug="tone-study").ratings_per_item == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exclusion_rules": {"straightline_runs": 8}}, "exclusion_rules"),  # typo: unknown key
        ({"exclusion_rules": {"straightline_run": 1}}, "exclusion_rules"),
        ({"exclusion_rules": {"attention_failures_max": 0.5}}, "exclusion_rules"),
        ({"exclusion_rules": [1, 2]}, "exclusion_rules"),
        ({"ratings_per_item": 0}, "ratings_per_item"),
        ({"status": "open"}, "status"),
        ({"slug": "has space"}, "slug"),
        ({"title": "nul \x00"}, "title"),
    ],
)
def test_study_create_refuses_invalid_design(api, body, field):
    response = api.post("/api/v1/studies/", {"slug": "s", "title": "T", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Study.objects.exists()


def test_study_create_refuses_lone_surrogate(api):
    # Valid JSON, but no database can store it: a 400, not a 500 in the middle of the write.
    body = '{"slug": "s", "title": "bad \\ud800 text"}'
    response = api.post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code == 400
    assert "title" in response.json()
    assert not Study.objects.exists()


def test_study_create_refuses_taken_slug(api, study):
    response = api.post("/api/v1/studies/", {"slug": study.slug, "title": "T"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()


def test_study_create_refuses_form_encoded_body(api):
    # JSON only: the schema promises nothing else.
    response = api.post("/api/v1/studies/", {"slug": "s", "title": "T"})
    assert response.status_code == 415


def test_study_update_changes_only_given_fields_and_never_the_slug(api, study):
    url = f"/api/v1/studies/{study.slug}/"
    response = api.patch(
        url,
        {"status": "closed", "slug": "renamed", "exclusion_rules": {"require_complete": False}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    study.refresh_from_db()
    assert study.status == "closed"
    assert study.slug != "renamed"  # read-only: recruitment links already carry it
    assert study.exclusion_rules["require_complete"] is False
    assert study.title == response.json()["title"]


def test_study_update_refuses_bad_rules_and_leaves_study_unchanged(api, study):
    before = Study.objects.filter(pk=study.pk).values().get()
    response = api.patch(
        f"/api/v1/studies/{study.slug}/",
        {"title": "New", "exclusion_rules": {"min_median_seconds": -1}},
        format="json",
    )
    assert response.status_code == 400
    assert Study.objects.filter(pk=study.pk).values().get() == before


def test_study_detail_unknown_slug_404(api):
    assert api.get("/api/v1/studies/nope/").status_code == 404


def test_study_list_filters_by_status_and_paginates(api):
    for i in range(3):
        Study.objects.create(slug=f"d{i}", title="D", status="draft")
    Study.objects.create(slug="r", title="R", status="recruiting")
    data = api.get("/api/v1/studies/", {"status": "draft", "page_size": 2}).json()
    assert data["count"] == 3
    assert len(data["results"]) == 2 and data["next"]
    assert {s["status"] for s in data["results"]} == {"draft"}
    assert api.get("/api/v1/studies/", {"status": "nope"}).status_code == 400
    assert api.get("/api/v1/studies/", {"page": 99}).status_code == 404


def test_study_progress_counts(api, piloted):
    data = api.get(f"/api/v1/studies/{piloted.slug}/").json()
    assert data["n_items"] == 8 * 3 + 8  # singles and pairs; the attention check not counted
    assert data["ratings_wanted"] == data["n_items"] * piloted.ratings_per_item
    assert 0 < data["ratings_collected"] <= data["ratings_wanted"]


def test_scale_create_and_list(api, study):
    url = f"/api/v1/studies/{study.slug}/scales/"
    body = {
        "key": "politeness",
        "question": "How polite?",
        "min_value": 1,
        "max_value": 5,
        "order": 9,
    }
    created = api.post(url, body, format="json")
    assert created.status_code == 201, created.json()
    keys = [s["key"] for s in api.get(url).json()["results"]]
    assert keys[-1] == "politeness" and len(keys) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "helpfulness"}, "non_field_errors"),  # taken in this study (a constraint)
        ({"min_value": 7, "max_value": 7}, "non_field_errors"),  # min < max, a constraint
        ({"key": "not a slug"}, "key"),
        ({"applies_to": "everything"}, "applies_to"),
    ],
)
def test_scale_create_refuses_invalid(api, study, body, field):
    before = Scale.objects.count()
    full = {"key": "k", "question": "Q?", "min_value": 1, "max_value": 7, **body}
    response = api.post(f"/api/v1/studies/{study.slug}/scales/", full, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Scale.objects.count() == before
