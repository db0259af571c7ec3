"""Shared pieces of the hardening tests: the app under real gunicorn on the test database, a
participant that drives the participant API like a survey tool, and PostgreSQL control.

Tests that start gunicorn use ``django_db(transaction=True)``: the server's workers are other
processes and only see committed rows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# The app runs with production settings (DEBUG off), which expect TLS at a proxy in front.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def current_database_url() -> str:
    """DATABASE_URL of the database this test session runs on (the test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_dir: Path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def wait_for_workers(self, count: int, *, exclude: set[int] = frozenset(), timeout: float = 20) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [pid for pid in self.worker_pids() if pid not in exclude]
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"gunicorn did not bring up {count} new worker(s) in {timeout}s")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@contextmanager
def gunicorn(tmp_path: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[Server]:
    """The project's WSGI app under gunicorn (config/gunicorn.py) on the test database."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    child_env.update(
        DATABASE_URL=current_database_url(),
        DJANGO_DEBUG="0",
        # Same keys as the test process, so tokens and id hashes agree across the two.
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        PARTICIPANT_ID_SECRET=settings.PARTICIPANT_ID_SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_DATA_DIR=str(tmp_path),
        DJANGO_STATIC_ROOT=str(tmp_path),
        DJANGO_RATELIMIT_EXEMPT_IPS="127.0.0.1",
        DJANGO_LOG_LEVEL="INFO",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
    )
    child_env.update(env or {})
    with open(tmp_path / "gunicorn.log", "wb") as log:
        proc = subprocess.Popen(
            [GUNICORN, "-c", "config/gunicorn.py", "--error-logfile", "-", "config.wsgi"],
            cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, tmp_path)
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", headers=PROXY_HEADERS, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{server.logs()}")
            time.sleep(0.1)
        server.wait_for_workers(workers)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


RETRYABLE = (httpx.TransportError,)


@dataclass
class ApiParticipant:
    """A survey tool driving one participant through the participant API; it retries what a
    robust client retries (dropped connections, 503) and records every answer acknowledged
    with a 2xx."""

    client: httpx.Client
    slug: str
    external_id: str
    token: str = ""
    acknowledged: list[dict] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    retry_after: list[str] = field(default_factory=list)
    dropped: int = 0
    completion_code: str = ""

    def call(self, method: str, url: str, **kwargs) -> httpx.Response:
        for _ in range(400):
            try:
                response = self.client.request(method, url, **kwargs)
            except RETRYABLE:
                self.dropped += 1
                time.sleep(0.05)
                continue
            self.statuses.append(response.status_code)
            if response.status_code == 503:
                self.retry_after.append(response.headers.get("Retry-After", ""))
                time.sleep(0.1)  # a real client honours Retry-After; tests have no time for it
                continue
            return response
        raise AssertionError(f"{method} {url} kept failing")

    def join(self) -> None:
        response = self.call(
            "POST", f"/api/v1/studies/{self.slug}/participants/",
            json={"external_id": self.external_id, "platform": "prolific", "consent": True},
        )
        assert response.status_code in (200, 201), response.text
        self.token = response.json()["token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def step(self) -> bool:
        """Answer one item; False when the participant is done."""
        nxt = self.call("GET", "/api/v1/participant/next/", headers=self.auth)
        if nxt.status_code == 204:
            self.completion_code = nxt.headers.get("X-Completion-Code", "")
            return False
        assert nxt.status_code == 200, nxt.text
        answer = answer_for(nxt.json())
        sub = self.call("POST", "/api/v1/participant/ratings/", json=answer, headers=self.auth)
        assert sub.status_code in (200, 201), sub.text
        self.acknowledged.append({**answer, "rating": sub.json()["rating"]})
        return True

    def run(self, max_steps: int = 50) -> None:
        self.join()
        for _ in range(max_steps):
            if not self.step():
                return
        raise AssertionError("participant never finished")


def answer_for(body: dict) -> dict:
    values = {s["key"]: (2 if body.get("attention_check") else 1 + body["assignment"] % 7) for s in body["scales"]}
    answer = {"assignment": body["assignment"], "values": values}
    if body["kind"] == "pair":
        answer["choice"] = ("left", "right", "tie")[body["assignment"] % 3]
    return answer


def check_acknowledged(participants: list[ApiParticipant]) -> None:
    """Every answer acknowledged with a 2xx has exactly one rating with the values sent."""
    from annotation.models import Rating, RatingValue

    for p in participants:
        for sent in p.acknowledged:
            rating = Rating.objects.get(pk=sent["rating"])
            assert rating.assignment_id == sent["assignment"]
            stored = dict(RatingValue.objects.filter(rating=rating).values_list("scale__key", "value"))
            assert stored == sent["values"]
        assert len({a["assignment"] for a in p.acknowledged}) == len(p.acknowledged)


def check_study_invariants(study) -> None:
    from django.db.models import Count

    from annotation.models import Assignment, Rating

    assert not Rating.objects.values("assignment").annotate(n=Count("pk")).filter(n__gt=1).exists()
    taken = (
        Assignment.objects.filter(item__study=study, status__in=["answered", "reserved"])
        .exclude(item__kind="attention")
        .values("item").annotate(n=Count("pk")).filter(n__gt=study.ratings_per_item)
    )
    assert not taken.exists(), "an item above quota"
    assert not Assignment.objects.values("participant", "item").annotate(n=Count("pk")).filter(n__gt=1).exists()
    twice = (
        Assignment.objects.exclude(item__prompt=None)
        .values("participant", "item__prompt").annotate(n=Count("pk")).filter(n__gt=1)
    )
    assert not twice.exists(), "a participant saw two responses to one prompt"


def pg_ctl(*args: str) -> subprocess.CompletedProcess:
    """pg_ctl on the cluster of scripts/with-postgres.sh, as its owner (postgres when root)."""
    cmd = [str(Path(os.environ["PG_BIN"]) / "pg_ctl"), "-D", str(Path(os.environ["PG_DIR"]) / "data"), *args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
