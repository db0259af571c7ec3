"""Items' taken counters: they must equal the assignments they summarise, whatever happens."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import Count, Q
from django.utils import timezone

from annotation import deletion, services
from annotation.models import Assignment, Participant
from annotation.services import assignment_claim_next, participant_return, rating_submit
from studies.models import StudyItem
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = pytest.mark.django_db

TAKEN = Q(assignments__status__in=[Assignment.Status.ANSWERED, Assignment.Status.RESERVED])


def drift(study) -> dict[int, tuple[int, int]]:
    """Items whose counter disagrees with their assignments: {item: (counter, truth)}."""
    rows = StudyItem.objects.filter(study=study).annotate(truth=Count("assignments", filter=TAKEN))
    return {item.pk: (item.taken, item.truth) for item in rows if item.taken != item.truth}


def test_counters_follow_claims_answers_returns_and_expiries(db):
    study = build_study(prompts=5, models=3, attention=1, items_per_participant=6, ratings_per_item=2,
                        attention_check_interval=3, lease_minutes=30)
    rng = random.Random(4)
    people = [new_participant(study, external_id=f"w{i}") for i in range(12)]
    clock = timezone.now()
    seen: set[str] = set()
    for step in range(200):
        person = rng.choice(people)
        if rng.random() < 0.05:
            clock += timedelta(minutes=31)  # every open reservation lapses
        try:
            claim = assignment_claim_next(participant=person, now=clock)
        except Exception as exc:  # a closed or finished participant is a normal outcome here
            assert getattr(exc, "status", 500) < 500, exc
            continue
        roll = rng.random()
        if not claim.done and roll < 0.75:
            answer = answer_for(claim.assignment, value=2)
            rating_submit(participant=person, assignment_id=claim.assignment.pk, now=clock, **answer)
        elif not claim.done and roll < 0.8:
            participant_return(participant=person)
        assert drift(study) == {}, f"after step {step}"
        seen |= set(Assignment.objects.filter(item__study=study).values_list("status", flat=True))
    # The walk went through every transition that changes a counter.
    assert seen == {"answered", "reserved", "expired", "released"}


def test_deleting_a_participant_in_the_admin_frees_their_slots(admin_client):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    item = study.items.get()
    bot = new_participant(study, external_id="bot")
    claim = assignment_claim_next(participant=bot)
    rating_submit(participant=bot, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
    assert not services.study_has_room(study=study)

    response = admin_client.post(f"/admin/annotation/participant/{bot.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.taken == 0
    assert assignment_claim_next(participant=new_participant(study, external_id="next")).assignment.item_id == item.pk


def test_bulk_deleting_participants_in_the_admin_keeps_counters_exact(admin_client):
    study = build_study(prompts=3, models=2, items_per_participant=3, ratings_per_item=2)
    people = [new_participant(study, external_id=f"p{i}") for i in range(4)]
    for person in people:
        for _ in range(2):
            claim = assignment_claim_next(participant=person)
            rating_submit(participant=person, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
        assignment_claim_next(participant=person)  # and one held open
    response = admin_client.post(
        "/admin/annotation/participant/",
        {"action": "delete_selected", "_selected_action": [people[0].pk, people[2].pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert Participant.objects.filter(study=study).count() == 2
    assert drift(study) == {}
    assert StudyItem.objects.filter(study=study).aggregate(n=Count("pk", filter=Q(taken__gt=0)))["n"] > 0


def test_assignments_cannot_be_edited_in_the_admin_and_deleting_one_frees_its_slot(admin_client):
    study = build_study(prompts=1, models=1, pairs=False)
    assignment = assignment_claim_next(participant=new_participant(study)).assignment
    url = f"/admin/annotation/assignment/{assignment.pk}/change/"
    assert admin_client.get(url).status_code == 200  # viewing is allowed
    assert admin_client.post(url, {"status": "released"}).status_code == 403
    assert admin_client.get("/admin/annotation/assignment/add/").status_code == 403
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.RESERVED
    assert StudyItem.objects.get(pk=assignment.item_id).taken == 1
    response = admin_client.post(f"/admin/annotation/assignment/{assignment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert StudyItem.objects.get(pk=assignment.item_id).taken == 0


def test_recount_repairs_a_counter_changed_behind_the_services_back(db):
    study = build_study(prompts=2, models=2, pairs=False)
    person = new_participant(study)
    claim = assignment_claim_next(participant=person)
    StudyItem.objects.filter(study=study).update(taken=5)
    assert drift(study)
    assert deletion.items_recount(study_id=study.pk) == study.items.count()
    assert drift(study) == {}
    assert StudyItem.objects.get(pk=claim.assignment.item_id).taken == 1


def test_migration_counts_existing_assignments(db):
    migration = __import__("studies.migrations.0004_claim_bookkeeping", fromlist=["count_taken"])
    study = build_study(prompts=2, models=2, pairs=False, ratings_per_item=2)
    for i in range(2):
        assignment_claim_next(participant=new_participant(study, external_id=f"m{i}"))
    StudyItem.objects.filter(study=study).update(taken=0, shuffle_key=0)
    migration.count_taken(apps, None)
    assert drift(study) == {}
    assert len(set(StudyItem.objects.filter(study=study).values_list("shuffle_key", flat=True))) > 1


def test_lowest_shuffle_key_among_the_least_taken_comes_first_and_is_redrawn(db):
    study = build_study(prompts=4, models=1, pairs=False, items_per_participant=1, ratings_per_item=2)
    items = list(study.items.order_by("pk"))
    for key, item in zip((40, 10, 30, 20), items, strict=True):
        StudyItem.objects.filter(pk=item.pk).update(shuffle_key=key)
    first = assignment_claim_next(participant=new_participant(study, external_id="a")).assignment
    assert first.item_id == items[1].pk
    assert StudyItem.objects.get(pk=items[1].pk).shuffle_key != 10
    # The taken item is now one level up, so the next lowest key at level 0 follows.
    second = assignment_claim_next(participant=new_participant(study, external_id="b")).assignment
    assert second.item_id == items[3].pk
