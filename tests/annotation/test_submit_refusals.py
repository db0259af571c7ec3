"""Every refusal of a submission is a 4xx with a message and leaves the database as it was."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Participant, Rating, RatingValue
from annotation.services import assignment_claim_next
from studies.models import Study
from tests.annotation.conftest import build_study, new_participant

pytestmark = pytest.mark.django_db

URL = "/api/v1/participant/ratings/"


def snapshot() -> tuple:
    return (
        list(Rating.objects.order_by("pk").values_list("pk", "assignment_id", "choice", "seconds")),
        list(RatingValue.objects.order_by("pk").values_list("pk", "rating_id", "scale_id", "value")),
        list(Assignment.objects.order_by("pk").values_list("pk", "status", "answered_at")),
        list(Participant.objects.order_by("pk").values_list("pk", "status", "attention_failures")),
    )


@pytest.fixture
def single_setup(client, token_for):
    study = build_study(prompts=3, models=1, pairs=False)
    participant = new_participant(study, "alice")
    assignment = assignment_claim_next(participant=participant).assignment
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for(participant)}"}

    def post(body, headers=auth):
        return client.post(URL, body, content_type="application/json", **headers)

    return study, participant, assignment, post


@pytest.mark.parametrize(
    ("values", "status", "needle"),
    [
        ({"helpfulness": 8, "frustration": 3}, 400, "between 1 and 7"),
        ({"helpfulness": 0, "frustration": 3}, 400, "between 1 and 7"),
        ({"helpfulness": 4}, 400, "Missing a value for 'frustration'"),
        ({"helpfulness": 4, "frustration": 3, "joy": 2}, 400, "Unknown scale"),
        ({"helpfulness": "4", "frustration": 3}, 400, "whole number"),
        ({"helpfulness": 4.5, "frustration": 3}, 400, "whole number"),
        ({"helpfulness": True, "frustration": 3}, 400, "whole number"),
        ([1, 2], 400, "must be an object"),
    ],
)
def test_submit_invalid_values_refused_and_database_unchanged(single_setup, values, status, needle):
    _, _, assignment, post = single_setup
    before = snapshot()
    response = post({"assignment": assignment.pk, "values": values})
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert snapshot() == before


def test_submit_choice_on_single_refused(single_setup):
    _, _, assignment, post = single_setup
    before = snapshot()
    response = post({"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}, "choice": "left"})
    assert response.status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize("body", [{"assignment": "abc"}, {"assignment": None}, {}, {"assignment": 10**12, "values": {}}])
def test_submit_malformed_assignment_refused(single_setup, body):
    *_, post = single_setup
    before = snapshot()
    response = post(body)
    assert response.status_code in (400, 404)
    assert snapshot() == before


def test_submit_non_object_body_refused(single_setup):
    *_, post = single_setup
    before = snapshot()
    assert post([1, 2, 3]).status_code == 400
    assert post("not json at all").status_code == 400
    assert snapshot() == before


def test_submit_someone_elses_assignment_forbidden(single_setup, client, token_for):
    study, _, assignment, post = single_setup
    mallory = new_participant(study, "mallory")
    before = snapshot()
    response = post(
        {"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}},
        {"HTTP_AUTHORIZATION": f"Bearer {token_for(mallory)}"},
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_submit_forged_token_unauthorised(single_setup):
    _, participant, assignment, post = single_setup
    before = snapshot()
    for token in (f"{participant.pk}:forged", "garbage", f"{participant.pk + 1}"):
        response = post({"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}}, {"HTTP_AUTHORIZATION": f"Bearer {token}"})
        assert response.status_code in (401, 403)
    assert post({"assignment": assignment.pk, "values": {}}, {}).status_code in (401, 403)
    assert snapshot() == before


def test_submit_identical_replay_is_idempotent(single_setup):
    _, _, assignment, post = single_setup
    body = {"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}}
    first = post(body)
    assert first.status_code == 201
    before = snapshot()
    again = post(body)
    assert again.status_code == 200
    assert again.json()["rating"] == first.json()["rating"]
    assert snapshot() == before
    assert Rating.objects.count() == 1


def test_submit_changed_replay_conflicts(single_setup):
    _, _, assignment, post = single_setup
    assert post({"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}}).status_code == 201
    before = snapshot()
    response = post({"assignment": assignment.pk, "values": {"helpfulness": 5, "frustration": 3}})
    assert response.status_code == 409
    assert snapshot() == before


def test_submit_to_closed_study_refused(single_setup):
    study, _, assignment, post = single_setup
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    before = snapshot()
    response = post({"assignment": assignment.pk, "values": {"helpfulness": 4, "frustration": 3}})
    assert response.status_code == 409
    assert "not accepting" in response.json()["detail"]
    assert snapshot() == before


def test_submit_pair_bad_choice_refused(client, token_for):
    study = build_study(prompts=1, models=2)
    study.items.filter(kind="single").delete()
    participant = new_participant(study, "p")
    assignment = assignment_claim_next(participant=participant).assignment
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for(participant)}"}
    before = snapshot()
    for choice in ("a", "LEFT", None, 1):
        response = client.post(URL, {"assignment": assignment.pk, "values": {}, "choice": choice}, content_type="application/json", **auth)
        assert response.status_code == 400
    assert snapshot() == before
