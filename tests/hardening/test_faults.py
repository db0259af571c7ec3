"""Faults under load: a gunicorn worker killed mid-request, the database restarted while
participants submit, the network dropping between submit and response.

The promise in every case: each answer acknowledged with a 2xx is stored exactly once, nothing
is doubled, the quota holds, and the participant can carry on and finish.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection, connections, transaction

from annotation.models import Assignment, Participant, Rating
from tests.annotation.conftest import build_study
from tests.hardening.conftest import (
    PROXY_HEADERS,
    ApiParticipant,
    answer_for,
    check_acknowledged,
    check_study_invariants,
    gunicorn,
    pg_ctl,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _client(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=PROXY_HEADERS, timeout=30)


def _wait_until_blocked_on_lock(timeout: float = 15) -> None:
    """PostgreSQL: wait until some backend waits for a row lock (the submit we held up)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the submit never reached the row lock")


def test_worker_killed_mid_request_participant_resumes_on_another_worker(tmp_path):
    study = build_study(prompts=6, models=3, items_per_participant=4, ratings_per_item=2)
    with gunicorn(tmp_path, workers=1) as server, _client(server) as client:
        p = ApiParticipant(client, study.slug, "killed-worker")
        p.join()
        assert p.step()
        body = client.get("/api/v1/participant/next/", headers=p.auth).json()
        answer = answer_for(body)
        (victim,) = server.worker_pids()

        outcome: dict = {}

        def submit() -> None:
            try:
                outcome["response"] = client.post("/api/v1/participant/ratings/", json=answer, headers=p.auth)
            except httpx.TransportError as exc:
                outcome["error"] = exc

        # Hold the request inside the server: it waits for a lock this test holds (the
        # assignment's row on PostgreSQL, the write lock on SQLite) while its worker dies.
        with transaction.atomic():  # SQLite: BEGIN IMMEDIATE takes the write lock
            list(Assignment.objects.select_for_update().filter(pk=body["assignment"]))
            thread = threading.Thread(target=submit)
            thread.start()
            if connection.vendor == "postgresql":
                _wait_until_blocked_on_lock()
            else:
                time.sleep(1.0)
            os.kill(victim, signal.SIGKILL)
            thread.join(timeout=20)
        assert "error" in outcome, f"the request was not cut off: {outcome}"
        assert not Rating.objects.filter(assignment_id=body["assignment"]).exists()

        (replacement,) = server.wait_for_workers(1, exclude={victim})
        assert replacement != victim
        retried = p.call("POST", "/api/v1/participant/ratings/", json=answer, headers=p.auth)
        assert retried.status_code == 201, retried.text
        p.acknowledged.append({**answer, "rating": retried.json()["rating"]})
        while p.step():
            pass
    assert p.completion_code == study.completion_code
    assert Rating.objects.filter(assignment_id=body["assignment"]).count() == 1
    assert Rating.objects.count() == 4
    check_acknowledged([p])
    check_study_invariants(study)


def test_workers_killed_at_random_under_load_lose_and_double_nothing(tmp_path):
    study = build_study(prompts=12, models=3, items_per_participant=6, ratings_per_item=3)
    done = threading.Event()
    kills: list[int] = []
    with gunicorn(tmp_path, workers=3) as server:

        def killer() -> None:
            rng = random.Random(7)
            while not done.wait(0.25) and len(kills) < 8:
                pids = server.worker_pids()
                if pids:
                    victim = rng.choice(pids)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append(victim)
                    except ProcessLookupError:
                        pass

        def session(i: int) -> ApiParticipant:
            with _client(server) as client:
                p = ApiParticipant(client, study.slug, f"load-{i}")
                p.run()
                return p

        killer_thread = threading.Thread(target=killer)
        killer_thread.start()
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                participants = list(pool.map(session, range(8)))
        finally:
            done.set()
            killer_thread.join()
        assert server.proc.poll() is None, "the gunicorn master died"
    assert kills, "no worker was killed while participants worked"
    assert all(p.completion_code == study.completion_code for p in participants)
    assert all(s < 500 for p in participants for s in p.statuses)
    assert Rating.objects.count() == 8 * 6 == sum(len(p.acknowledged) for p in participants)
    check_acknowledged(participants)
    check_study_invariants(study)


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="restarts the PostgreSQL server under load; SQLite is a file in the app's own process, "
    "there is no database server to restart",
)
def test_database_restart_under_load_answers_503_then_recovers(tmp_path):
    if not os.environ.get("PG_DIR") or not os.environ.get("PG_BIN"):
        pytest.skip("restarts the cluster of scripts/with-postgres.sh, which exports PG_BIN and PG_DIR")
    study = build_study(prompts=12, models=3, items_per_participant=8, ratings_per_item=3)
    # Persistent connections: every worker holds one that the restart breaks under it.
    with gunicorn(tmp_path, workers=2, env={"DJANGO_CONN_MAX_AGE": "60"}) as server:
        participants: list[ApiParticipant] = []

        def session(i: int) -> ApiParticipant:
            with _client(server) as client:
                p = ApiParticipant(client, study.slug, f"restart-{i}")
                participants.append(p)
                p.run()
                return p

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(session, i) for i in range(6)]
            deadline = time.monotonic() + 30
            while sum(len(p.acknowledged) for p in participants) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
            connections.close_all()
            pg_ctl("-m", "fast", "-w", "stop")
            time.sleep(1.5)  # an outage long enough that participants certainly run into it
            pg_ctl("-w", "-l", os.path.join(os.environ["PG_DIR"], "server.log"), "restart")
            results = [f.result(timeout=120) for f in futures]
    connections.close_all()
    statuses = [s for p in results for s in p.statuses]
    assert 503 in statuses, "no request ran into the outage"
    assert not [s for s in statuses if s >= 500 and s != 503], "a request failed with a 5xx other than 503"
    assert {ra for p in results for ra in p.retry_after} == {"5"}
    assert all(p.completion_code == study.completion_code for p in results)
    assert Rating.objects.count() == 6 * 8 == sum(len(p.acknowledged) for p in results)
    check_acknowledged(results)
    check_study_invariants(study)


def test_network_drop_after_submit_then_retry_is_idempotent(live_server):
    study = build_study(prompts=3, models=2, items_per_participant=2, ratings_per_item=2)
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        p = ApiParticipant(client, study.slug, "flaky-network")
        p.join()
        body = client.get("/api/v1/participant/next/", headers=p.auth).json()
        answer = answer_for(body)
        payload = json.dumps(answer).encode()

        # The request goes out in full, then the connection is gone before any answer.
        host = urlsplit(live_server.url)
        with socket.create_connection((host.hostname, host.port)) as raw:
            raw.sendall(
                b"POST /api/v1/participant/ratings/ HTTP/1.1\r\n"
                + f"Host: {host.netloc}\r\nAuthorization: Bearer {p.token}\r\n".encode()
                + f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            raw.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 15
        while not Rating.objects.filter(assignment_id=body["assignment"]).exists():
            assert time.monotonic() < deadline, "the server never stored the dropped submit"
            time.sleep(0.05)
        stored = Rating.objects.get(assignment_id=body["assignment"])

        retry = client.post("/api/v1/participant/ratings/", json=answer, headers=p.auth)
        assert retry.status_code == 200, retry.text
        assert retry.json()["rating"] == stored.pk
        if "choice" in answer:
            changed = {**answer, "choice": "tie" if answer["choice"] != "tie" else "left"}
        else:
            changed = {**answer, "values": {k: v % 7 + 1 for k, v in answer["values"].items()}}
        assert client.post("/api/v1/participant/ratings/", json=changed, headers=p.auth).status_code == 409
    assert Rating.objects.filter(assignment_id=body["assignment"]).count() == 1
    assert Participant.objects.get().status == "active"
