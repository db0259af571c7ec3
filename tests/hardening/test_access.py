"""Who can reach what: CSRF on every annotator form, and participants fenced into their own
assignments of their own study, never the admin or the researcher API."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotation.identity import participant_token
from annotation.models import Assignment, Participant, Rating
from annotation.services import assignment_claim_next
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def strict_client() -> Client:
    # The default test client skips CSRF checks; browsers and attackers do not.
    return Client(enforce_csrf_checks=True)


def form_token(response) -> str:
    return CSRF_INPUT.search(response.content.decode()).group(1)


def task_form(html: str) -> dict:
    assignment = re.search(r'name="assignment" value="(\d+)"', html).group(1)
    kind = re.search(r'data-kind="(\w+)"', html).group(1)
    if kind == "pair":
        return {"assignment": assignment, "choice": "left"}
    return {"assignment": assignment, "scale_helpfulness": "3", "scale_frustration": "3"}


def joined(client: Client, study) -> str:
    """Through entry and consent with a valid token; returns the task page's HTML."""
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=csrf-worker")
    page = client.get(f"/s/{study.slug}/consent/")
    response = client.post(f"/s/{study.slug}/consent/", {"decision": "agree", "csrfmiddlewaretoken": form_token(page)})
    assert response.status_code == 302
    return client.get(f"/s/{study.slug}/task/").content.decode()


def test_consent_form_refuses_post_without_csrf_token():
    study = build_study()
    client = strict_client()
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=csrf-worker")
    assert client.post(f"/s/{study.slug}/consent/", {"decision": "agree"}).status_code == 403
    assert client.post(f"/s/{study.slug}/consent/", {"decision": "agree", "csrfmiddlewaretoken": "x" * 64}).status_code == 403
    assert not Participant.objects.exists()
    joined(client, study)
    assert Participant.objects.count() == 1


def test_task_form_refuses_post_without_csrf_token():
    study = build_study()
    client = strict_client()
    html = joined(client, study)
    answer = task_form(html)
    assert client.post(f"/s/{study.slug}/task/", answer).status_code == 403
    assert client.post(f"/s/{study.slug}/task/", answer, HTTP_HX_REQUEST="true").status_code == 403
    assert not Rating.objects.exists()
    # The htmx way: the token travels in the header that base.html sets on <body>.
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    response = client.post(f"/s/{study.slug}/task/", answer, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=header_token)
    assert response.status_code == 200 and Rating.objects.count() == 1
    html = response.content.decode()
    response = client.post(f"/s/{study.slug}/task/", {**task_form(html), "csrfmiddlewaretoken": form_token(response)})
    assert response.status_code == 302 and Rating.objects.count() == 2


def test_leave_form_refuses_post_without_csrf_token():
    study = build_study()
    client = strict_client()
    html = joined(client, study)
    assert client.post(f"/s/{study.slug}/leave/").status_code == 403
    assert client.get(f"/s/{study.slug}/leave/").status_code == 405
    assert Participant.objects.get().status == Participant.Status.ACTIVE
    token = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[-1]
    assert client.post(f"/s/{study.slug}/leave/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert Participant.objects.get().status == Participant.Status.RETURNED


def test_admin_login_form_refuses_post_without_csrf_token():
    get_user_model().objects.create_superuser("boss", password="a-long-password-1")
    client = strict_client()
    assert client.post("/admin/login/", {"username": "boss", "password": "a-long-password-1"}).status_code == 403
    assert "_auth_user_id" not in client.session


def test_participant_never_reaches_admin_or_researcher_api():
    study = build_study()
    client = Client()
    joined(client, study)
    participant = Participant.objects.get()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {participant_token(participant_id=participant.pk)}"}
    for path in ("/admin/", "/admin/annotation/rating/", "/admin/studies/study/"):
        for headers in ({}, bearer):
            response = client.get(path, **headers)
            assert response.status_code == 302 and response.url.startswith("/admin/login/"), path
    for path in ("/api/v1/studies/", f"/api/v1/studies/{study.slug}/", f"/api/v1/studies/{study.slug}/ratings.csv"):
        for headers in ({}, bearer):
            assert client.get(path, **headers).status_code in (401, 403), path
    assert client.get("/api/schema/", **bearer).status_code in (401, 403)


def test_participant_cannot_touch_another_participants_assignment(client):
    study = build_study()
    me, other = new_participant(study, "me"), new_participant(study, "other")
    theirs = assignment_claim_next(participant=other).assignment
    mine = assignment_claim_next(participant=me).assignment
    auth = {"HTTP_AUTHORIZATION": f"Bearer {participant_token(participant_id=me.pk)}"}
    response = client.post(
        "/api/v1/participant/ratings/", {"assignment": theirs.pk, **answer_for(theirs)},
        content_type="application/json", **auth,
    )
    assert response.status_code == 403
    assert not Rating.objects.exists()
    assert client.get("/api/v1/participant/next/", **auth).json()["assignment"] == mine.pk


def test_token_of_one_study_is_useless_in_another(client):
    study_a, study_b = build_study(), build_study()
    a = new_participant(study_a, "worker-a")
    b = new_participant(study_b, "worker-b")
    b_item = assignment_claim_next(participant=b).assignment
    auth_a = {"HTTP_AUTHORIZATION": f"Bearer {participant_token(participant_id=a.pk)}"}
    response = client.post(
        "/api/v1/participant/ratings/", {"assignment": b_item.pk, **answer_for(b_item)},
        content_type="application/json", **auth_a,
    )
    assert response.status_code in (403, 404)
    assert not Rating.objects.exists()
    # Whatever A is handed next belongs to A's own study.
    nxt = client.get("/api/v1/participant/next/", **auth_a).json()
    assert Assignment.objects.get(pk=nxt["assignment"]).item.study_id == study_a.pk
    assert not Assignment.objects.filter(participant=a, item__study=study_b).exists()


def test_session_of_one_study_is_useless_in_another():
    study_a, study_b = build_study(), build_study()
    client = Client()
    joined(client, study_a)
    b = new_participant(study_b, "worker-b")
    b_item = assignment_claim_next(participant=b).assignment
    # Study B's pages do not know this browser ...
    response = client.get(f"/s/{study_b.slug}/task/")
    assert response.status_code == 302 and response.url.endswith(f"/s/{study_b.slug}/")
    form = {"assignment": str(b_item.pk), "scale_helpfulness": "3", "scale_frustration": "3", "choice": "left"}
    response = client.post(f"/s/{study_b.slug}/task/", form)
    assert response.status_code == 302
    # ... and posting B's assignment through study A's form is refused.
    response = client.post(f"/s/{study_a.slug}/task/", form)
    assert response.status_code in (200, 400, 403)
    assert not Rating.objects.exists()


@pytest.mark.parametrize("token", ["", "garbage", "1", "1:forged-signature", "Bearer x y"])
def test_forged_or_missing_tokens_are_refused(client, token):
    study = build_study()
    participant = new_participant(study, "victim")
    item = assignment_claim_next(participant=participant).assignment
    # A signature for another salt (e.g. a session cookie) does not make a participant token.
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    assert client.get("/api/v1/participant/next/", **headers).status_code in (401, 403)
    response = client.post(
        "/api/v1/participant/ratings/", {"assignment": item.pk, **answer_for(item)},
        content_type="application/json", **headers,
    )
    assert response.status_code in (401, 403)
    assert not Rating.objects.exists()
