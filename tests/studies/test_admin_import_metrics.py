"""The study admin's upload form and automated-metrics page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studies.models import Prompt, Response
from tests.factories import PromptFactory, ResponseFactory, StudyFactory

from .importer_helpers import XSTEST_COMPLETIONS, XSTEST_PROMPTS, import_file, row_counts

pytestmark = pytest.mark.django_db


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_study_change_page_links_to_import_and_metrics(admin_client):
    study = StudyFactory()
    html = admin_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert f"/admin/studies/study/{study.pk}/import/" in html
    assert f"/admin/studies/study/{study.pk}/metrics/" in html


def test_admin_upload_imports_the_file(admin_client):
    study = StudyFactory(slug="upload")
    url = f"/admin/studies/study/{study.pk}/import/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "file": _upload("xstest_v2_prompts.csv", XSTEST_PROMPTS.read_bytes()),
            "on_duplicate": "skip",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/admin/studies/study/{study.pk}/change/"
    assert "450 new" in response.content.decode()
    assert Prompt.objects.filter(study=study).count() == 450


def test_admin_upload_shows_every_bad_line_and_imports_nothing(admin_client):
    study = StudyFactory(slug="upload")
    before = row_counts()
    content = (
        b"prompt,response,model,should_refuse\n"
        b"fine,ok,m,0\n"
        b"bad one,ok,m,7\n"
        b",ok,m,0\n"
        b'"multi\nline",,m,0\n'
    )
    response = admin_client.post(
        f"/admin/studies/study/{study.pk}/import/",
        {"file": _upload("rows.csv", content), "format": "csv", "on_duplicate": "skip"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 bad lines; nothing was imported." in html
    assert "rows.csv:3: should_refuse must be 0 or 1" in html
    assert "rows.csv:4: empty prompt" in html
    assert "rows.csv:5: model &#x27;m&#x27; given but the response is empty" in html
    assert row_counts() == before


def test_admin_upload_needs_change_permission(client):
    study = StudyFactory()
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(f"/admin/studies/study/{study.pk}/import/").status_code == 403
    assert client.get(f"/admin/studies/study/{study.pk}/metrics/").status_code == 403


def test_metrics_page_shows_orr_with_wilson_interval(admin_client):
    import_file(XSTEST_COMPLETIONS, study="x")
    study = Response.objects.first().prompt.study
    html = admin_client.get(f"/admin/studies/study/{study.pk}/metrics/").content.decode()
    assert 'id="automated-metrics"' in html
    # human labels: llama2orig refuses 149 of 250 safe prompts (59.6 %, DOMAIN.md)
    assert "59.6&nbsp;%" in html and "149/250" in html
    assert "xstest_human" in html
    only_full = admin_client.get(f"/admin/studies/study/{study.pk}/metrics/?partial=0")
    assert only_full.status_code == 200


def _metrics_queries(admin_client, study) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert admin_client.get(f"/admin/studies/study/{study.pk}/metrics/").status_code == 200
    return len(ctx.captured_queries)


def test_metrics_page_query_count_does_not_grow(admin_client):
    study = StudyFactory()
    ResponseFactory(prompt__study=study, model__name="a")
    few = _metrics_queries(admin_client, study)
    for i in range(6):
        prompt = PromptFactory(study=study, should_refuse=bool(i % 2))
        for name in ("a", "b", "c"):
            ResponseFactory(prompt=prompt, model__name=name, refusal_label="full_refusal")
    assert _metrics_queries(admin_client, study) == few <= 8


def test_metrics_page_without_responses(admin_client):
    study = StudyFactory()
    html = admin_client.get(f"/admin/studies/study/{study.pk}/metrics/").content.decode()
    assert "No responses yet" in html
