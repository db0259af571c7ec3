"""The participant API contract of the house plan."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Participant
from studies.models import Study
from tests.annotation.conftest import build_study

pytestmark = pytest.mark.django_db


def join(client, study, **body):
    payload = {"platform": "prolific", "consent": True, **body}
    return client.post(f"/api/v1/studies/{study.slug}/participants/", payload, content_type="application/json")


def test_participant_create_then_resume_same_participant(client):
    study = build_study()
    first = join(client, study, external_id="worker-1")
    assert first.status_code == 201
    again = join(client, study, external_id="worker-1")
    assert again.status_code == 200
    assert again.json()["participant"] == first.json()["participant"]
    assert again.json()["token"] == first.json()["token"]
    assert Participant.objects.count() == 1
    stored = Participant.objects.get()
    assert "worker-1" not in stored.external_id_hash and len(stored.external_id_hash) == 64


def test_participant_create_without_consent_stores_nothing_but_count(client):
    study = build_study()
    response = join(client, study, external_id="w", consent=False)
    assert response.status_code == 400
    assert Participant.objects.count() == 0
    study.refresh_from_db()
    assert study.consent_declines == 1


def test_participant_create_closed_study_refused(client):
    study = build_study(status=Study.Status.CLOSED)
    assert join(client, study, external_id="w").status_code == 409
    assert Participant.objects.count() == 0


def test_full_session_through_api_ends_with_completion_code(client):
    study = build_study(items_per_participant=4)
    token = join(client, study, external_id="w").json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    kinds = []
    for _ in range(10):
        nxt = client.get("/api/v1/participant/next/", **auth)
        if nxt.status_code == 204:
            break
        body = nxt.json()
        assert set(body) >= {"assignment", "kind", "prompt", "responses", "scales"}
        assert all("model" not in r for r in body["responses"])
        kinds.append(body["kind"])
        if body["kind"] == "pair":
            assert [r["slot"] for r in body["responses"]] == ["left", "right"]
            answer = {"assignment": body["assignment"], "choice": "tie", "values": {}}
        else:
            answer = {"assignment": body["assignment"], "values": {s["key"]: s["min"] for s in body["scales"]}}
        assert client.post("/api/v1/participant/ratings/", answer, content_type="application/json", **auth).status_code == 201
    assert len(kinds) == 4
    assert nxt.status_code == 204
    assert nxt["X-Completion-Code"] == "CODE123"


def test_next_returns_same_open_assignment(client):
    study = build_study()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {join(client, study).json()['token']}"}
    a = client.get("/api/v1/participant/next/", **auth).json()["assignment"]
    assert client.get("/api/v1/participant/next/", **auth).json()["assignment"] == a


def _queries(client, method, path, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(path, **kwargs)
    assert response.status_code in (200, 201), response.content
    return len(ctx.captured_queries)


def _measure(client, n_prompts: int, *, pairs: bool = False) -> tuple[int, int]:
    # One item kind per measurement: a pair costs one query more to hand out (left/right
    # balance) and one fewer to record (no scale values), so mixing kinds would compare apples
    # with pears depending on which kind the seed hands out first.
    study = build_study(prompts=n_prompts, items_per_participant=3, pairs=pairs)
    if pairs:
        study.items.filter(kind="single").delete()
    # Other participants' history should not change the count either.
    for i in range(3):
        other = {"HTTP_AUTHORIZATION": f"Bearer {join(client, study, external_id=f'o{i}').json()['token']}"}
        client.get("/api/v1/participant/next/", **other)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {join(client, study, external_id='me').json()['token']}"}
    n_next = _queries(client, "get", "/api/v1/participant/next/", **auth)
    body = client.get("/api/v1/participant/next/", **auth).json()
    answer = {"assignment": body["assignment"], "values": {s["key"]: 3 for s in body["scales"]}}
    if body["kind"] == "pair":
        answer["choice"] = "left"
    n_submit = _queries(client, "post", "/api/v1/participant/ratings/", data=answer, content_type="application/json", **auth)
    return n_next, n_submit


def test_next_and_submit_query_counts_bounded_and_independent_of_study_size(client):
    small = _measure(client, 3)
    large = _measure(client, 40)
    assert small == large
    pairs = _measure(client, 3, pairs=True)
    assert pairs == _measure(client, 40, pairs=True)
    # Pinned, so that a statement added to the hot path is a decision. Both counts include the
    # SAVEPOINT and RELEASE of the service's transaction inside the test's.
    # next: token's participant, study lock, history, candidate, insert, item counter, item
    #       content with scales (+ left/right balance for a pair; + the sweep of lapsed
    #       reservations, which the other participants' claims just did);
    # submit: token's participant, assignment lock, scales, rating, values (none for a pair
    #       without pair scales), assignment answered, participant.
    assert large == (9, 9)
    assert pairs == (10, 8)


def test_joining_a_full_study_is_refused_with_409_and_stores_nothing(client):
    from annotation.services import assignment_claim_next, rating_submit
    from tests.annotation.conftest import answer_for, new_participant

    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    first = new_participant(study, "first")
    claim = assignment_claim_next(participant=first)
    rating_submit(participant=first, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
    response = join(client, study, external_id="newcomer")
    assert response.status_code == 409
    assert response.json()["code"] == "study_full"
    assert Participant.objects.filter(study=study).count() == 1
