"""The assignment service: who gets which item, and what the database looks like after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from annotation import errors
from annotation.models import Assignment, Participant, Rating
from annotation.services import (
    SWEEP_EVERY,
    assignment_claim_next,
    participant_return,
    rating_submit,
)
from studies.models import Study
from tests.annotation.conftest import answer_for, build_study, new_participant

pytestmark = pytest.mark.django_db


def run_participant(participant, *, limit: int = 100) -> list[Assignment]:
    handed = []
    for _ in range(limit):
        claim = assignment_claim_next(participant=participant)
        if claim.done:
            break
        handed.append(claim.assignment)
        rating_submit(participant=participant, assignment_id=claim.assignment.pk, **answer_for(claim.assignment, value=2))
    return handed


def test_claim_next_returns_same_open_assignment_until_answered(study):
    participant = new_participant(study)
    first = assignment_claim_next(participant=participant).assignment
    again = assignment_claim_next(participant=participant).assignment
    assert first.pk == again.pk
    rating_submit(participant=participant, assignment_id=first.pk, **answer_for(first))
    assert assignment_claim_next(participant=participant).assignment.pk != first.pk


def test_claim_next_never_shows_two_responses_to_one_prompt(db):
    study = build_study(prompts=8, models=3, items_per_participant=8, ratings_per_item=3)
    participant = new_participant(study)
    handed = run_participant(participant)
    prompts = [a.item.prompt_id for a in handed]
    assert len(handed) == 8
    assert len(set(prompts)) == len(prompts)


def test_claim_next_allows_same_prompt_when_setting_off(db):
    study = build_study(prompts=2, models=3, items_per_participant=6, one_response_per_prompt=False)
    handed = run_participant(new_participant(study))
    assert len(handed) == 6
    assert len({a.item.prompt_id for a in handed}) == 2


def test_claim_next_spreads_items_and_respects_quota(db):
    study = build_study(prompts=5, models=2, items_per_participant=5, ratings_per_item=2)
    # 5 prompts × (2 singles + 1 pair) = 15 items, quota 2 → 30 slots, 6 participants × 5.
    people = [new_participant(study, f"w{i}") for i in range(8)]  # all in before it fills
    for person in people:
        run_participant(person)
    counts = Rating.objects.values("item").annotate(n=Count("pk"))
    assert max(c["n"] for c in counts) <= 2
    assert Rating.objects.count() == 30  # quota filled exactly, then people finish early
    per_participant = Participant.objects.annotate(n=Count("ratings")).values_list("n", flat=True)
    assert sorted(per_participant, reverse=True)[:6] == [5] * 6
    # Once full, newcomers are told so before they start instead of being given nothing.
    with pytest.raises(errors.StudyFull):
        new_participant(study, "late")


def test_a_full_study_still_admits_newcomers_while_a_lapsed_reservation_can_be_given_back(db):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1,
                        lease_minutes=1)
    long_ago = timezone.now() - timedelta(minutes=5)
    held = assignment_claim_next(participant=new_participant(study, "gone"), now=long_ago).assignment
    late = new_participant(study, "late")  # the only slot's reservation lapsed: there is room
    assert assignment_claim_next(participant=late).assignment.item_id == held.item_id
    with pytest.raises(errors.StudyFull):
        new_participant(study, "later")


def test_claim_next_picks_least_rated_item_first(db):
    study = build_study(prompts=3, models=1, pairs=False, items_per_participant=1, ratings_per_item=3)
    seen = [run_participant(new_participant(study, f"w{i}"))[0].item_id for i in range(3)]
    assert len(set(seen)) == 3  # everyone got a fresh item while fresh items remained


def test_pairs_left_right_balanced_per_item(db):
    study = build_study(prompts=1, models=2, items_per_participant=1, ratings_per_item=9)
    Assignment.objects.all().delete()
    study.items.filter(kind="single").delete()
    for i in range(9):
        run_participant(new_participant(study, f"w{i}"))
    shown = Assignment.objects.aggregate(a=Count("pk", filter=Q(left_is_a=True)), b=Count("pk", filter=Q(left_is_a=False)))
    assert shown["a"] + shown["b"] == 9
    assert abs(shown["a"] - shown["b"]) <= 1


def test_expired_reservation_is_reclaimed_and_participant_timed_out(db):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1, lease_minutes=30)
    slow, fast = new_participant(study, "slow"), new_participant(study, "fast")
    held = assignment_claim_next(participant=slow).assignment
    assert assignment_claim_next(participant=fast).done  # the only slot is reserved
    fast.status = Participant.Status.ACTIVE
    Participant.objects.filter(pk=fast.pk).update(status="active", completed_at=None)
    later = timezone.now() + timedelta(minutes=31)
    claim = assignment_claim_next(participant=fast, now=later)
    assert claim.assignment.item_id == held.item_id
    held.refresh_from_db()
    slow.refresh_from_db()
    assert held.status == Assignment.Status.EXPIRED
    assert slow.status == Participant.Status.TIMED_OUT
    with pytest.raises(errors.ConflictingAnswer):
        rating_submit(participant=slow, assignment_id=held.pk, **answer_for(held))


def test_lapsed_reservations_are_swept_at_most_every_few_seconds(db):
    study = build_study(prompts=3, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    start = timezone.now()
    held = assignment_claim_next(participant=new_participant(study, "a"), now=start).assignment
    lapsed = start + timedelta(minutes=31)
    Study.objects.filter(pk=study.pk).update(reclaimed_at=lapsed - timedelta(seconds=1))
    # A sweep ran a second ago, and there are other free items: no sweep now.
    assignment_claim_next(participant=new_participant(study, "b"), now=lapsed)
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.RESERVED
    # Once the interval has passed, the next claim sweeps.
    assignment_claim_next(participant=new_participant(study, "c"), now=lapsed + SWEEP_EVERY)
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.EXPIRED


def test_nobody_is_sent_away_while_a_lapsed_reservation_holds_the_last_slot(db):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    slow, late = new_participant(study, "slow"), new_participant(study, "late")
    start = timezone.now()
    held = assignment_claim_next(participant=slow, now=start).assignment
    lapsed = start + timedelta(minutes=31)
    Study.objects.filter(pk=study.pk).update(reclaimed_at=lapsed - timedelta(seconds=1))
    claim = assignment_claim_next(participant=late, now=lapsed)
    assert not claim.done
    assert claim.assignment.item_id == held.item_id


def test_returned_participant_releases_slot(db):
    study = build_study(prompts=1, models=1, pairs=False, items_per_participant=1, ratings_per_item=1)
    leaver, other = new_participant(study, "a"), new_participant(study, "b")
    held = assignment_claim_next(participant=leaver).assignment
    participant_return(participant=leaver)
    assert leaver.status == Participant.Status.RETURNED
    assert assignment_claim_next(participant=other).assignment.item_id == held.item_id
    assert assignment_claim_next(participant=leaver).done


def test_attention_check_inserted_at_interval_and_scored(db):
    study = build_study(prompts=6, models=1, pairs=False, items_per_participant=4, attention_check_interval=2, attention=2)
    participant = new_participant(study)
    kinds = []
    for _ in range(10):
        claim = assignment_claim_next(participant=participant)
        if claim.done:
            break
        kinds.append(claim.assignment.item.kind)
        value = 3 if claim.assignment.item.kind == "attention" and len(kinds) > 3 else 2
        rating_submit(participant=participant, assignment_id=claim.assignment.pk, values={"helpfulness": value, "frustration": value})
    assert kinds == ["single", "single", "attention", "single", "single"]
    results = list(Rating.objects.filter(item__kind="attention").values_list("attention_passed", flat=True))
    assert results == [True]
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED


def test_failed_attention_check_counted(db):
    study = build_study(prompts=4, models=1, pairs=False, items_per_participant=2, attention_check_interval=1, attention=1)
    participant = new_participant(study)
    run_participant(participant)  # answers 2 everywhere → passes
    other = new_participant(study, "x")
    for _ in range(5):
        claim = assignment_claim_next(participant=other)
        if claim.done:
            break
        rating_submit(participant=other, assignment_id=claim.assignment.pk, values={"helpfulness": 6, "frustration": 6})
    other.refresh_from_db()
    assert other.attention_failures == 1
    assert Rating.objects.filter(participant=other, attention_passed=False).count() == 1


def test_completed_participant_gets_no_new_items(study):
    participant = new_participant(study)
    run_participant(participant)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    n = Assignment.objects.count()
    assert assignment_claim_next(participant=participant).done
    assert Assignment.objects.count() == n


def test_rating_seconds_measured_on_server(study):
    participant = new_participant(study)
    claim = assignment_claim_next(participant=participant)
    later = claim.assignment.reserved_at + timedelta(seconds=12.5)
    result = rating_submit(participant=participant, assignment_id=claim.assignment.pk, now=later, **answer_for(claim.assignment))
    assert result.rating.seconds == pytest.approx(12.5)


def test_pair_choice_recorded_as_response_identity(db):
    study = build_study(prompts=2, models=2, items_per_participant=4, ratings_per_item=4)
    study.items.filter(kind="single").delete()
    for i in range(4):
        participant = new_participant(study, f"w{i}")
        claim = assignment_claim_next(participant=participant)
        rating_submit(participant=participant, assignment_id=claim.assignment.pk, values={}, choice="left")
        rating = Rating.objects.get(assignment=claim.assignment)
        assert rating.choice == ("a" if claim.assignment.left_is_a else "b")
