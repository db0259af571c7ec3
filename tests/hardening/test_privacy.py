"""Raw crowd-platform ids never reach a log, the database, a session or an export.

A participant arrives from Prolific with a distinctive PROLIFIC_PID and goes through the whole
study; then every place the id could have leaked is searched for it.
"""

from __future__ import annotations

import io
import logging
import re

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client

from annotation.log_filters import RedactCrowdIds, redact
from tests.annotation.conftest import build_study
from tests.hardening.conftest import PROXY_HEADERS, gunicorn

pytestmark = pytest.mark.django_db

CANARY = "CANARY5f3e9aPID"
API_CANARY = "CANARY77apiWORKER"


def answer(html: str) -> dict:
    assignment = re.search(r'name="assignment" value="(\d+)"', html).group(1)
    if 'data-kind="pair"' in html:
        return {"assignment": assignment, "choice": "left"}
    return {"assignment": assignment, "scale_helpfulness": "2", "scale_frustration": "2"}


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def test_crowd_id_in_no_log_row_session_or_export(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # everything any logger says, SQL included
    study = build_study(items_per_participant=3, attention=1, attention_check_interval=2)
    client = Client()
    client.get(f"/s/{study.slug}/?PROLIFIC_PID={CANARY}&STUDY_ID=st1&SESSION_ID=se1")
    client.get(f"/s/{study.slug}/?PROLIFIC_PID={CANARY}&STUDY_ID=st1&SESSION_ID=se1")  # a reload
    client.post(f"/s/{study.slug}/consent/", {"decision": "agree"})
    for _ in range(10):
        page = client.get(f"/s/{study.slug}/task/", follow=True)
        if b"completion-code" in page.content:
            break
        client.post(f"/s/{study.slug}/task/", answer(page.content.decode()))
    assert b"completion-code" in client.get(f"/s/{study.slug}/done/").content
    # The same again through the participant API, and a returning worker.
    for _ in range(2):
        response = client.post(
            f"/api/v1/studies/{study.slug}/participants/",
            {"external_id": API_CANARY, "platform": "prolific", "consent": True}, content_type="application/json",
        )
        assert response.status_code in (200, 201)

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    sessions = " ".join(str(s.get_decoded()) for s in Session.objects.all())
    export_dir = tmp_path / "export"
    call_command("export_study", study.slug, "--out", str(export_dir), stdout=io.StringIO())
    exported = " ".join(p.read_text() for p in export_dir.iterdir())
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("r", password="a-long-password-1"))
    api = " ".join(
        body(staff.get(url))
        for url in (f"/api/v1/studies/{study.slug}/participants/list/", f"/api/v1/studies/{study.slug}/ratings.csv")
    )
    for where, text in {"logs": caplog.text, "dumpdata": dump.getvalue(), "sessions": sessions,
                        "export_study": exported, "researcher API": api}.items():
        for canary in (CANARY, API_CANARY):
            assert canary not in text, f"{canary} found in {where}"
    assert "st1" in dump.getvalue()  # the non-identifying Prolific metadata is kept


def test_redaction_filter_on_every_project_handler():
    line = f'"GET /s/demo/?PROLIFIC_PID={CANARY}&STUDY_ID=s&workerId=W{CANARY} HTTP/1.1" 302 0'
    assert CANARY not in redact(line) and "STUDY_ID=s" in redact(line)
    assert redact(f"/s/x/?PROLIFIC_PID%3D{CANARY}") == "/s/x/?PROLIFIC_PID%3D[redacted]"
    record = logging.LogRecord("django.server", logging.INFO, __file__, 1, "%s", (line,), None)
    RedactCrowdIds().filter(record)
    assert CANARY not in record.getMessage()
    # Wired into the project's handlers: the root logger's and the development server's.
    for name in ("", "django.server"):
        ours = [h for h in logging.getLogger(name).handlers if type(h) is logging.StreamHandler]
        assert ours and all(any(isinstance(f, RedactCrowdIds) for f in h.filters) for h in ours), name
    assert all("redact_crowd_ids" in h["filters"] for h in settings.LOGGING["handlers"].values())


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_crowd_id_not_in_gunicorn_logs(tmp_path):
    study = build_study()
    with gunicorn(tmp_path, workers=1) as server, httpx.Client(
        base_url=server.url, headers=PROXY_HEADERS, timeout=30
    ) as client:
        entry = client.get(f"/s/{study.slug}/?PROLIFIC_PID={CANARY}&STUDY_ID=st&SESSION_ID=se",
                           headers={"Referer": f"https://lab.example.org/s/{study.slug}/?PROLIFIC_PID={CANARY}"})
        assert entry.status_code == 302 and entry.headers["Location"].endswith("/consent/")
        assert client.get(f"/s/nope/?PROLIFIC_PID={CANARY}").status_code == 404  # Django logs 404s
    logs = server.logs()
    assert "GET /s/" in logs, logs[-2000:]  # the access log is on
    assert CANARY not in logs
