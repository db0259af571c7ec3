"""htmx pages: full page vs fragment, entry parameters, consent, completion."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import Participant, Rating
from studies.models import Study
from tests.annotation.conftest import build_study

pytestmark = pytest.mark.django_db


def enter(client, study, query: str = "") -> None:
    response = client.get(f"/s/{study.slug}/{query}")
    assert response.status_code == 302
    response = client.post(f"/s/{study.slug}/consent/", {"decision": "agree"})
    assert response.status_code == 302 and response.url.endswith("/instructions/")


def current(html: str) -> tuple[str, str]:
    assignment = re.search(r'name="assignment" value="(\d+)"', html).group(1)
    kind = re.search(r'data-kind="(\w+)"', html).group(1)
    return assignment, kind


def answer(assignment: str, kind: str) -> dict:
    if kind == "pair":
        return {"assignment": assignment, "choice": "right"}
    return {"assignment": assignment, "scale_helpfulness": "2", "scale_frustration": "2"}


def test_entry_prolific_resume_same_participant(client):
    study = build_study()
    enter(client, study, "?PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se")
    other = Client()
    response = other.get(f"/s/{study.slug}/?PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se2")
    assert response.status_code == 302 and response.url.endswith("/task/")
    assert Participant.objects.count() == 1
    p = Participant.objects.get()
    assert p.platform == "prolific" and p.platform_meta == {"study_id": "st", "session_id": "se"}
    assert "pp1" not in str(p.platform_meta) and p.external_id_hash != "pp1"


def test_entry_mturk_parameters(client):
    study = build_study()
    enter(client, study, "?workerId=W1&assignmentId=A1&hitId=H1")
    assert Participant.objects.get().platform == "mturk"


def test_entry_anonymous_kept_in_session(client):
    study = build_study()
    enter(client, study)
    response = client.get(f"/s/{study.slug}/")
    assert response.url.endswith("/task/")
    assert Participant.objects.get().platform == "direct"


@pytest.mark.parametrize("status", [Study.Status.DRAFT, Study.Status.CLOSED])
def test_entry_closed_or_draft_study_shows_message(client, status):
    study = build_study(status=status)
    response = client.get(f"/s/{study.slug}/?PROLIFIC_PID=x")
    assert response.status_code == 200
    assert b"This study is not open" in response.content
    assert Participant.objects.count() == 0


def test_unknown_study_is_404(client):
    assert client.get("/s/no-such-study/").status_code == 404


def test_consent_decline_stores_only_a_count(client):
    study = build_study()
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=declines")
    response = client.post(f"/s/{study.slug}/consent/", {"decision": "decline"})
    assert response.status_code == 200 and b"Nothing about you has been stored" in response.content
    study.refresh_from_db()
    assert study.consent_declines == 1
    assert Participant.objects.count() == 0


def test_consent_page_renders_markdown_inertly(client):
    study = build_study(consent_md="**Content warning** <script>alert(1)</script>")
    client.get(f"/s/{study.slug}/")
    html = client.get(f"/s/{study.slug}/consent/").content.decode()
    assert "<strong>Content warning</strong>" in html
    assert "<script>alert(1)" not in html


def test_task_full_page_then_htmx_fragment(client):
    study = build_study(items_per_participant=3)
    enter(client, study)
    page = client.get(f"/s/{study.slug}/task/").content.decode()
    assert "<html" in page and "htmx" in page and 'id="task"' in page
    assignment, kind = current(page)
    fragment = client.post(f"/s/{study.slug}/task/", answer(assignment, kind), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "<html" not in body and body.lstrip().startswith('<div id="task"')
    assert "Item 2 of 3" in body


def test_task_plain_post_without_javascript_redirects(client):
    study = build_study(items_per_participant=2)
    enter(client, study)
    assignment, kind = current(client.get(f"/s/{study.slug}/task/").content.decode())
    response = client.post(f"/s/{study.slug}/task/", answer(assignment, kind))
    assert response.status_code == 302 and response.url.endswith("/task/")
    assert Rating.objects.count() == 1


def test_task_invalid_post_rerenders_form_with_error(client):
    study = build_study(pairs=False)
    enter(client, study)
    assignment, _ = current(client.get(f"/s/{study.slug}/task/").content.decode())
    response = client.post(f"/s/{study.slug}/task/", {"assignment": assignment, "scale_helpfulness": "3"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Missing a value for &#x27;frustration&#x27;" in html
    assert current(html)[0] == assignment
    assert 'value="3" checked' in html  # what was picked is kept
    plain = client.post(f"/s/{study.slug}/task/", {"assignment": assignment, "scale_helpfulness": "9", "scale_frustration": "1"})
    assert plain.status_code == 400
    assert Rating.objects.count() == 0


def test_task_completion_redirects_to_code_page(client):
    study = build_study(items_per_participant=2, completion_url="https://app.prolific.example/submissions/complete?cc=CODE123")
    enter(client, study)
    for _ in range(2):
        assignment, kind = current(client.get(f"/s/{study.slug}/task/").content.decode())
        last = client.post(f"/s/{study.slug}/task/", answer(assignment, kind), HTTP_HX_REQUEST="true")
    assert last["HX-Redirect"].endswith("/done/")
    done = client.get(f"/s/{study.slug}/done/").content.decode()
    assert "CODE123" in done and 'http-equiv="refresh"' in done
    # Coming back to the link shows the completion page again, never new items.
    assert client.get(f"/s/{study.slug}/").url.endswith("/done/")
    assert client.get(f"/s/{study.slug}/task/").url.endswith("/done/")


def test_task_page_never_names_models(client):
    study = build_study(items_per_participant=6)
    enter(client, study)
    for _ in range(6):
        page = client.get(f"/s/{study.slug}/task/")
        if page.status_code == 302:
            break
        html = page.content.decode()
        assert not re.search(r"\bm[0-2]\b", html)
        assignment, kind = current(html)
        client.post(f"/s/{study.slug}/task/", answer(assignment, kind))


def test_task_renders_model_output_inert(client):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1)
    from studies.models import Response

    Response.objects.update(text='<script>alert("x")</script><img src=x onerror="alert(1)"> [click](javascript:alert(2)) **bold**')
    enter(client, study)
    html = client.get(f"/s/{study.slug}/task/").content.decode()
    assert '<script>alert("x")' not in html
    assert "<img src=x" not in html and "&lt;img src=x" in html  # shown as text, never a tag
    assert 'href="javascript:' not in html
    assert "<strong>bold</strong>" in html


def test_leave_releases_and_shows_message(client):
    study = build_study()
    enter(client, study)
    client.get(f"/s/{study.slug}/task/")
    response = client.post(f"/s/{study.slug}/leave/")
    assert response.url.endswith("/left/")
    assert Participant.objects.get().status == "returned"
    assert client.get(f"/s/{study.slug}/task/").url.endswith("/left/")


def test_csrf_enforced_on_annotator_forms():
    study = build_study()
    client = Client(enforce_csrf_checks=True)
    client.get(f"/s/{study.slug}/")
    assert client.post(f"/s/{study.slug}/consent/", {"decision": "agree"}).status_code == 403
    assert Participant.objects.count() == 0


def test_task_page_query_count_bounded(client):
    study = build_study(prompts=30)
    enter(client, study)
    client.get(f"/s/{study.slug}/task/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/s/{study.slug}/task/").status_code == 200
    assert len(ctx.captured_queries) <= 16, [q["sql"][:80] for q in ctx.captured_queries]


def _fill(study) -> Participant:
    """One participant takes the study's only slot and answers it."""
    from annotation.services import assignment_claim_next, rating_submit
    from tests.annotation.conftest import answer_for, new_participant

    worker = new_participant(study, "first")
    claim = assignment_claim_next(participant=worker)
    rating_submit(participant=worker, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
    return worker


def test_a_full_study_says_so_at_the_door_and_stores_nothing(client):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    _fill(study)
    for query in ("?PROLIFIC_PID=newcomer", ""):
        response = client.get(f"/s/{study.slug}/{query}")
        assert response.status_code == 200
        assert "This study is full" in response.content.decode()
    assert Participant.objects.count() == 1
    assert f"rpl:{study.pk}:pending" not in client.session
    # Whoever already took part still gets back to their completion page.
    response = client.get(f"/s/{study.slug}/?PROLIFIC_PID=first")
    assert response.status_code == 302 and response.url.endswith("/done/")


def test_a_study_that_fills_while_someone_reads_the_consent_turns_them_away_kindly(client):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    assert client.get(f"/s/{study.slug}/?PROLIFIC_PID=reader").status_code == 302
    _fill(study)
    response = client.post(f"/s/{study.slug}/consent/", {"decision": "agree"})
    assert response.status_code == 200
    assert "This study is full" in response.content.decode()
    assert Participant.objects.count() == 1
