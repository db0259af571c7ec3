"""Where researchers get the report: the staff-only dashboard, the report URLs, the action."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.simulation import simulate_participants
from tests.report.conftest import build_report_study, rate_through_api

pytestmark = pytest.mark.django_db

N_BOOT = "?n_boot=20"


def urls(study) -> dict[str, str]:
    base = f"/admin/studies/study/{study.pk}"
    return {"dashboard": f"{base}/dashboard/", "html": f"{base}/report.html{N_BOOT}",
            "json": f"{base}/report.json{N_BOOT}", "zip": f"{base}/report.zip{N_BOOT}"}


@pytest.fixture
def study(client):
    study = build_report_study(prompts=8, items_per_participant=10)
    rate_through_api(client, study, participants=3)
    simulate_participants(study=study, n=5, seed=2)
    return study


def test_dashboard_shows_progress_flow_and_reliability(admin_client, study):
    response = admin_client.get(urls(study)["dashboard"])
    assert response.status_code == 200
    body = response.content.decode()
    histogram = response.context["histogram"]
    assert histogram["quota"] == 3 and histogram["n_items"] == 32
    assert sum(b["items"] for b in histogram["buckets"]) == 32
    assert f"{histogram['collected']} / {histogram['wanted']}" in body
    assert 'id="fig-quota"' in body and 'id="quota-table"' in body
    assert response.context["counts"]["participants"]["completed"] == 8
    assert response.context["flow"]["entered"] == 8
    scales = {row["scale"] for row in response.context["reliability"]}
    assert scales == {"helpfulness", "frustration"}
    for fmt in ("html", "json", "zip"):
        assert f"/admin/studies/study/{study.pk}/report.{fmt}" in body


def test_dashboard_queries_do_not_grow_with_the_data(admin_client, client):
    def queries_for(study) -> tuple[int, int]:
        url = urls(study)["dashboard"]
        with CaptureQueriesContext(connection) as cold:
            assert admin_client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as warm:
            assert admin_client.get(url).status_code == 200
        return len(cold), len(warm)

    small = build_report_study(prompts=4, items_per_participant=6)
    simulate_participants(study=small, n=2, seed=1)
    large = build_report_study(prompts=12, items_per_participant=12)
    rate_through_api(client, large, participants=2)
    simulate_participants(study=large, n=10, seed=1)
    small_cold, small_warm = queries_for(small)
    large_cold, large_warm = queries_for(large)
    assert large_warm == small_warm <= 12  # cached analysis: live counts only
    assert large_cold == small_cold <= 30  # flow and reliability: a fixed number of queries


def test_dashboard_cache_follows_new_ratings(admin_client, study):
    first = admin_client.get(urls(study)["dashboard"]).context["flow"]["entered"]
    simulate_participants(study=study, n=1, seed=9)
    assert admin_client.get(urls(study)["dashboard"]).context["flow"]["entered"] == first + 1


@pytest.mark.parametrize("name", ["dashboard", "html", "json", "zip"])
def test_report_pages_need_staff(client, study, name):
    url = urls(study)[name]
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")

    joined = client.post(f"/api/v1/studies/{study.slug}/participants/",
                         {"external_id": "nosy", "platform": "prolific", "consent": True},
                         content_type="application/json")
    token = joined.json()["token"]
    with_token = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert with_token.status_code == 302 and with_token["Location"].startswith("/admin/login/")
    assert b"fixed" not in with_token.content and b"PK" not in with_token.content[:2]

    user = get_user_model().objects.create_user("member", password="pw-member-123")
    client.force_login(user)  # logged in but not staff
    assert client.get(url).status_code == 302


def test_report_downloads_for_staff(admin_client, study):
    page = admin_client.get(urls(study)["html"])
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "Mixed-effects models" in page.content.decode()
    data = admin_client.get(urls(study)["json"])
    assert data.status_code == 200 and data.json()["schema"] == "rpl-report/1"
    bundle = admin_client.get(urls(study)["zip"])
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    assert f'filename="{study.slug}-report.zip"' in bundle["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    assert json.loads(archive.read("report.json")) == data.json()  # one cached report


def test_report_without_ratings_says_so(admin_client):
    empty = build_report_study(prompts=2)
    assert admin_client.get(urls(empty)["json"]).status_code == 409
    page = admin_client.get(urls(empty)["html"])
    assert page.status_code == 302 and page["Location"].endswith(f"/{empty.pk}/dashboard/")
    assert admin_client.get(urls(empty)["dashboard"]).status_code == 200


def test_invalid_exclusion_rules_are_reported_not_crashed(admin_client, study):
    study.exclusion_rules = {"attention_failures_max": "zero"}
    study.save(update_fields=["exclusion_rules"])
    page = admin_client.get(urls(study)["dashboard"])
    assert page.status_code == 200 and "exclusion rules cannot be applied" in page.content.decode()
    assert admin_client.get(urls(study)["json"]).status_code == 409
    assert admin_client.get(urls(study)["html"]).status_code == 302


def test_report_bad_options_and_formats_404(admin_client, study):
    base = f"/admin/studies/study/{study.pk}"
    assert admin_client.get(f"{base}/report.pdf").status_code == 404
    assert admin_client.get(f"{base}/report.json?n_boot=many").status_code == 404
    assert admin_client.get(f"{base}/report.json?n_boot=999999").status_code == 404


def test_admin_action_downloads_one_bundle(admin_client, study):
    response = admin_client.post("/admin/studies/study/", {
        "action": "download_report_bundle", "_selected_action": [study.pk],
    })
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert {"report.html", "report.json", "ratings.csv", "README.txt"} <= set(names)


def test_admin_action_asks_for_one_study(admin_client, study):
    other = build_report_study(prompts=2)
    response = admin_client.post("/admin/studies/study/", {
        "action": "download_report_bundle", "_selected_action": [study.pk, other.pk],
    })
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("exactly one study" in t for t in texts)


def test_changelist_and_change_page_link_the_dashboard(admin_client, study):
    dashboard = urls(study)["dashboard"]
    assert dashboard in admin_client.get("/admin/studies/study/").content.decode()
    change = admin_client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert dashboard in change and f"/admin/studies/study/{study.pk}/report.html" in change
