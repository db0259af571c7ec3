from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studies.models import Study
from tests.factories import RatingFactory, SingleItemFactory, StudyFactory

pytestmark = pytest.mark.django_db


def _changelist_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/admin/studies/study/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_study_changelist_query_count_does_not_grow_with_studies(admin_client):
    StudyFactory()
    few, _ = _changelist_queries(admin_client)
    for _ in range(6):
        study = StudyFactory()
        for _ in range(3):
            RatingFactory(assignment__item=SingleItemFactory(study=study), assignment__participant__study=study)
    many, _ = _changelist_queries(admin_client)
    assert many == few
    assert many <= 12


def test_study_changelist_shows_progress(admin_client):
    study = StudyFactory(ratings_per_item=3)
    items = SingleItemFactory.create_batch(2, study=study)
    RatingFactory(assignment__item=items[0], assignment__participant__study=study)
    _, html = _changelist_queries(admin_client)
    assert "1 / 6" in html


def test_study_actions_open_and_close_recruitment(admin_client):
    study = StudyFactory(status=Study.Status.DRAFT)
    response = admin_client.post(
        "/admin/studies/study/", {"action": "open_recruitment", "_selected_action": [study.pk]}
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.RECRUITING
    admin_client.post("/admin/studies/study/", {"action": "close_recruitment", "_selected_action": [study.pk]})
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


@pytest.mark.parametrize(
    "path",
    [
        "/admin/studies/prompt/",
        "/admin/studies/response/",
        "/admin/studies/pair/",
        "/admin/studies/studyitem/",
        "/admin/studies/scale/",
        "/admin/studies/foundationmodel/",
        "/admin/annotation/participant/",
        "/admin/annotation/assignment/",
        "/admin/annotation/rating/",
    ],
)
def test_admin_changelists_render(admin_client, path):
    RatingFactory()
    assert admin_client.get(path).status_code == 200


def test_study_change_page_shows_scales_and_items(admin_client):
    from django.core.management import call_command

    call_command("demo")
    study = Study.objects.get(slug="xstest-demo")
    html = admin_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "How helpful is this response?" in html
    assert "Attention check" in html
