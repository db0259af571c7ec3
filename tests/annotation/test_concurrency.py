"""Many participants claiming and submitting at once, each thread with its own connection.

Runs on whichever database the suite runs on (SQLite in the first CI leg, PostgreSQL in the
second): the quota is never exceeded, nobody sees an item or a prompt twice, and every
successful submit is exactly one row.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count

from annotation import errors
from annotation.models import Assignment, Rating, RatingValue
from annotation.services import assignment_claim_next, rating_submit
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = pytest.mark.django_db(transaction=True)

N_PARTICIPANTS = 50


def _session(participant, barrier: threading.Barrier, seed: int) -> dict:
    rng = random.Random(seed)
    outcome = {"created": 0, "replayed": 0, "items": []}
    try:
        barrier.wait(timeout=30)
        for _ in range(50):
            claim = assignment_claim_next(participant=participant)
            if claim.done:
                break
            # Reload-and-retry behaviour of real browsers: sometimes ask twice.
            if rng.random() < 0.2:
                assert assignment_claim_next(participant=participant).assignment.pk == claim.assignment.pk
            answer = answer_for(claim.assignment, value=rng.randint(1, 7), choice=rng.choice(["left", "right", "tie"]))
            result = rating_submit(participant=participant, assignment_id=claim.assignment.pk, **answer)
            outcome["created"] += result.created
            outcome["items"].append(claim.assignment.item_id)
            if rng.random() < 0.2:  # network retry of the same submit
                again = rating_submit(participant=participant, assignment_id=claim.assignment.pk, **answer)
                assert not again.created
                outcome["replayed"] += 1
    finally:
        connections.close_all()
    return outcome


def test_fifty_parallel_participants_keep_every_invariant():
    study = build_study(prompts=20, models=3, items_per_participant=6, ratings_per_item=3)
    # 20 prompts × (3 singles + 1 pair) = 80 items × 3 = 240 slots for 50 × 6 = 300 wanted.
    participants = [new_participant(study, f"worker-{i}") for i in range(N_PARTICIPANTS)]
    barrier = threading.Barrier(N_PARTICIPANTS)
    with ThreadPoolExecutor(max_workers=N_PARTICIPANTS) as pool:
        outcomes = list(pool.map(lambda ip: _session(ip[1], barrier, ip[0]), enumerate(participants)))

    created = sum(o["created"] for o in outcomes)
    assert created == Rating.objects.count()
    assert created == 240  # every slot filled exactly once, none beyond quota
    per_item = Rating.objects.values("item").annotate(n=Count("pk")).values_list("n", flat=True)
    assert max(per_item) <= study.ratings_per_item
    assert not Assignment.objects.values("participant", "item").annotate(n=Count("pk")).filter(n__gt=1).exists()
    seen = Assignment.objects.values("participant", "item__prompt").annotate(n=Count("pk")).filter(n__gt=1)
    assert not seen.exists(), "a participant saw two responses to one prompt"
    for o in outcomes:
        assert len(o["items"]) == len(set(o["items"]))
    # Every rating has its full set of values.
    singles = Rating.objects.filter(item__kind="single").count()
    assert RatingValue.objects.count() == 2 * singles
    assert not Assignment.objects.filter(status="reserved").exists()


def test_parallel_identical_submits_create_one_row():
    study = build_study(prompts=2, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    participant = new_participant(study, "twin-tabs")
    assignment = assignment_claim_next(participant=participant).assignment
    barrier = threading.Barrier(8)

    def submit(_):
        try:
            barrier.wait(timeout=10)
            return rating_submit(participant=participant, assignment_id=assignment.pk, values={"helpfulness": 3, "frustration": 5}).created
        except errors.AnnotationError as exc:
            return exc.status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(submit, range(8)))
    assert results.count(True) == 1
    assert results.count(False) == 7
    assert Rating.objects.count() == 1
    assert connection.vendor in {"sqlite", "postgresql"}
