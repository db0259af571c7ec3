"""The guards in front of the views (annotation.middleware): oversized and unsized bodies,
rate limits per client IP, and 503 instead of 500 when the database does not answer."""

from __future__ import annotations

import json

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.test import Client

from annotation import ratelimit, services
from annotation.identity import participant_token
from annotation.models import Participant, Rating
from annotation.services import assignment_claim_next
from tests.annotation.conftest import answer_for, build_study, new_participant
from tests.hardening.conftest import PROXY_HEADERS, gunicorn

pytestmark = pytest.mark.django_db


# --- request bodies ------------------------------------------------------------------------


def test_oversized_json_body_refused_with_413_and_nothing_stored(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    study = build_study()
    participant = new_participant(study, "big-body")
    item = assignment_claim_next(participant=participant).assignment
    body = {"assignment": item.pk, **answer_for(item), "padding": "x" * 5_000}
    response = client.post(
        "/api/v1/participant/ratings/", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {participant_token(participant_id=participant.pk)}",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Rating.objects.exists()
    # Participant creation, the other open JSON endpoint, is guarded the same way.
    response = client.post(
        f"/api/v1/studies/{study.slug}/participants/",
        json.dumps({"external_id": "x" * 5_000, "consent": True}), content_type="application/json",
    )
    assert response.status_code == 413
    assert Participant.objects.count() == 1


def test_declared_length_is_checked_before_the_body_is_read(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    study = build_study()
    # A lying header is enough: the guard does not wait for 10 GB to arrive.
    response = client.post(
        f"/s/{study.slug}/consent/", "decision=agree", content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(10 * 2**30),
    )
    assert response.status_code == 413
    assert b"too large" in response.content
    assert client.post("/api/v1/participant/ratings/", "{}", content_type="application/json",
                       CONTENT_LENGTH="12abc").status_code == 400


def test_multipart_uploads_have_their_own_limit(client, settings):
    settings.UPLOAD_MAX_BYTES = 3_000
    admin = get_user_model().objects.create_superuser("uploader", password="a-long-password-1")
    client.force_login(admin)
    response = client.post("/admin/studies/study/add/", {"title": "t", "file": ("x" * 4_000)})
    assert response.status_code == 413
    assert client.post("/admin/studies/study/add/", {"title": "t"}).status_code == 200  # the form again


def test_body_without_declared_length_refused_with_411(client):
    response = client.post("/api/v1/participant/ratings/", "", content_type="application/json",
                           HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_guards_hold_under_gunicorn_across_workers(tmp_path):
    """Real HTTP: a streamed (chunked) body, an oversized one, and a rate limit that every
    worker counts in the same shared cache."""
    build_study(slug="limits")
    env = {
        "DJANGO_RATELIMIT_EXEMPT_IPS": "",
        # A day-long window: a burst cannot straddle a window boundary (fixed windows).
        "DJANGO_RATELIMIT_PARTICIPANT": "4/86400",
        "DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE": "4096",
    }
    cache.clear()  # counters live in the database cache, which outlives transactional tests
    with gunicorn(tmp_path, workers=3, env=env) as server, httpx.Client(
        base_url=server.url, headers=PROXY_HEADERS, timeout=30
    ) as client:
        def chunks():
            yield b'{"external_id": "streamed", '
            yield b'"consent": true}'

        url = "/api/v1/studies/limits/participants/"
        assert client.post(url, content=chunks(), headers={"Content-Type": "application/json"}).status_code == 411
        big = json.dumps({"external_id": "x" * 10_000, "consent": True})
        assert client.post(url, content=big, headers={"Content-Type": "application/json"}).status_code == 413
        statuses = [
            client.post(url, json={"external_id": f"w{i}", "consent": True},
                        headers={"Connection": "close"}).status_code
            for i in range(8)
        ]
        assert statuses[:4] == [201] * 4 and statuses[4:] == [429] * 4, statuses
        limited = client.post(url, json={"external_id": "w9", "consent": True})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    cache.clear()
    assert Participant.objects.count() == 4


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def tight_limits(settings, monkeypatch):
    # Fixed windows: a burst that straddles a window boundary is counted in two windows, so
    # the clock is pinned mid-window to keep these counts deterministic.
    monkeypatch.setattr("annotation.ratelimit.time.time", lambda: 1_800_000_030.0)
    settings.RATELIMITS = {"login": "3/60", "participant": "3/60"}
    settings.RATELIMIT_EXEMPT_IPS = []
    settings.RATELIMIT_PROXY_COUNT = 0
    return settings


def test_login_rate_limited_per_ip_with_retry_after(tight_limits):
    get_user_model().objects.create_superuser("boss", password="a-long-password-1")
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [
        attacker.post("/admin/login/", {"username": "boss", "password": f"guess-{i}"}).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    blocked = attacker.post("/admin/login/", {"username": "boss", "password": "a-long-password-1"})
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 60
    assert "_auth_user_id" not in attacker.session  # not even the right password gets through
    # Someone else is not affected, and showing the form is never limited.
    assert attacker.get("/admin/login/").status_code == 200
    other = Client(REMOTE_ADDR="198.51.100.20")
    assert other.post("/admin/login/", {"username": "boss", "password": "a-long-password-1"}).status_code == 302


def test_participant_creation_rate_limited_on_api_and_consent_form(tight_limits):
    study = build_study()
    client = Client(REMOTE_ADDR="203.0.113.8")
    url = f"/api/v1/studies/{study.slug}/participants/"
    for i in range(3):
        assert client.post(url, {"external_id": f"w{i}", "consent": True}, content_type="application/json").status_code == 201
    refused = client.post(url, {"external_id": "w3", "consent": True}, content_type="application/json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    # The consent form creates participants too, and draws on the same allowance.
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=form-worker")
    assert client.post(f"/s/{study.slug}/consent/", {"decision": "agree"}).status_code == 429
    assert Participant.objects.count() == 3


def test_exempt_address_and_trusted_proxy(tight_limits):
    study = build_study()
    url = f"/api/v1/studies/{study.slug}/participants/"

    def create(client: Client, i: int, **headers) -> int:
        return client.post(url, {"external_id": f"p{i}", "consent": True}, content_type="application/json", **headers).status_code

    tight_limits.RATELIMIT_EXEMPT_IPS = ["192.0.2.50"]  # e.g. a survey tool's server
    survey_tool = Client(REMOTE_ADDR="192.0.2.50")
    assert {create(survey_tool, i) for i in range(6)} == {201}

    # Behind one proxy the client is the last X-Forwarded-For entry; what the client wrote
    # further left cannot buy it a fresh allowance.
    tight_limits.RATELIMIT_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    statuses = [create(proxy, 10 + i, HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.9") for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert create(proxy, 20, HTTP_X_FORWARDED_FOR="203.0.113.10") == 201


def test_rate_parse_rejects_nonsense():
    assert ratelimit.Rate.parse("10/60") == ratelimit.Rate(10, 60)
    for bad in ("0/60", "10/0", "x/60"):
        with pytest.raises(ValueError):
            ratelimit.Rate.parse(bad)


# --- database outages ----------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_database_outage_in_a_view_is_503_with_retry_after(client, monkeypatch, error):
    study = build_study()
    participant = new_participant(study, "outage")

    def down(**kwargs):
        raise error

    monkeypatch.setattr(services, "assignment_claim_next", down)
    response = client.get(
        "/api/v1/participant/next/", HTTP_AUTHORIZATION=f"Bearer {participant_token(participant_id=participant.pk)}"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
    # A person on the task page gets a page, not JSON.
    client.get(f"/s/{study.slug}/?PROLIFIC_PID=page-outage")
    client.post(f"/s/{study.slug}/consent/", {"decision": "agree"})
    page = client.get(f"/s/{study.slug}/task/")
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html")
    assert page.headers["Retry-After"] == "5"


def test_database_outage_outside_a_view_is_503_too(monkeypatch):
    study = build_study()
    client = Client(raise_request_exception=False)

    def down(self, must_create=False):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(SessionStore, "save", down)
    response = client.get(f"/s/{study.slug}/?PROLIFIC_PID=session-outage")  # saved on the way out
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_other_errors_stay_500(monkeypatch):
    study = build_study()
    participant = new_participant(study, "bug")
    client = Client(raise_request_exception=False)

    def bug(**kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(services, "assignment_claim_next", bug)
    response = client.get(
        "/api/v1/participant/next/", HTTP_AUTHORIZATION=f"Bearer {participant_token(participant_id=participant.pk)}"
    )
    assert response.status_code == 500
