"""Every researcher endpoint: staff token works; nobody else gets in.

The endpoints are enumerated from the URL patterns themselves (plus the schema), so a view added
later is covered without touching this file.
"""

from __future__ import annotations

import sys
import types

import pytest
from django.urls import URLPattern, reverse

from studies import api_urls
from studies.models import Study

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def _endpoints() -> list[tuple[str, str]]:
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view_class = pattern.callback.cls
        found += [(pattern.name, method) for method in METHODS if hasattr(view_class, method)]
    return [*found, ("api-schema", "get")]


ENDPOINTS = _endpoints()


def _url(name: str, study: Study) -> str:
    pattern = next((p for p in api_urls.urlpatterns if p.name == name), None)
    needs_slug = pattern is not None and "slug" in pattern.pattern.converters
    return reverse(name, kwargs={"slug": study.slug} if needs_slug else None)


def _call(client, method: str, url: str):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, {}, format="json")


@pytest.fixture
def report_stub(monkeypatch):
    """analysis.report replaced, so that these tests check access and not the statistics."""
    import analysis

    stub = types.ModuleType("analysis.report")
    stub.report_for_study = lambda study, **options: {"study": study.slug}
    stub.render_html = lambda report: "<!doctype html><title>report</title>"
    stub.build_bundle = lambda study, **options: b"PK\x05\x06" + b"\0" * 18
    monkeypatch.setitem(sys.modules, "analysis.report", stub)
    monkeypatch.setattr(analysis, "report", stub, raising=False)
    return stub


def test_endpoint_list_covers_every_operation():
    names = {name for name, _ in ENDPOINTS}
    assert {"api-studies", "api-study", "api-responses-bulk", "api-ratings-csv"} <= names
    assert {"api-report-json", "api-report-html", "api-report-zip", "api-schema"} <= names
    assert len(ENDPOINTS) >= 17


@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_researcher_endpoint_refuses_anonymous(name, method, anonymous, study):
    response = _call(anonymous, method, _url(name, study))
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_researcher_endpoint_refuses_participant_bearer_token(
    name, method, participant_client, study
):
    # The token is valid on the participant API (checked at the end), yet no credential here.
    response = _call(participant_client, method, _url(name, study))
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_researcher_endpoint_refuses_non_staff_token(name, method, non_staff, study):
    response = _call(non_staff, method, _url(name, study))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_researcher_endpoint_accepts_staff_token(name, method, api, study, report_stub):
    response = _call(api, method, _url(name, study))
    # {} is no valid body for every POST, hence 400 is fine: the point is being let in.
    assert response.status_code in (200, 201, 400), response.content[:300]


def test_participant_token_still_works_on_the_participant_api(participant_client):
    assert participant_client.get("/api/v1/participant/next/").status_code in (200, 204)


def test_researcher_token_is_no_participant_credential(api, study):
    assert api.get("/api/v1/participant/next/").status_code in (401, 403)


def test_staff_session_works_too(client, staff_user, study):
    # The browsable docs page relies on the admin session.
    client.force_login(staff_user)
    assert client.get(reverse("api-study", kwargs={"slug": study.slug})).status_code == 200
