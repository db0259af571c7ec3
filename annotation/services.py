"""The only ways work is handed out and recorded: entry, claim, submit, return.

htmx pages, the participant API, the admin and load tests all call these functions, so the
quota, the balance of the design and the no-duplicates guarantees live in one place.

Concurrency: a claim takes the study's row lock (``SELECT … FOR UPDATE`` on PostgreSQL; on
SQLite every write transaction is ``BEGIN IMMEDIATE``, see settings), so two claims of one study
never read the same free slot. Submissions lock only their assignment row, so they run in
parallel with each other; an expired reservation is reclaimed under the study lock, and a
submit for it waits for that lock on the assignment row and then sees it expired.

Quota: each item keeps a count of its answered and reserved assignments (``StudyItem.taken``).
Only the functions here change it, and only under the study lock, in the same transaction as
the assignments they change, so the count cannot run ahead of or behind the assignments.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from studies.models import Scale, Study, StudyItem, shuffle_key_draw

from . import errors, sql
from .identity import new_pseudonym
from .models import Assignment, Participant, Rating, RatingValue

TAKEN = (Assignment.Status.ANSWERED, Assignment.Status.RESERVED)
CHOICES = {"left", "right", "tie"}
# What a claim reads of the study it locks (not the consent and instruction texts).
CLAIM_STUDY_FIELDS = (
    "status",
    "lease_minutes",
    "items_per_participant",
    "ratings_per_item",
    "attention_check_interval",
    "one_response_per_prompt",
    "random_seed",
    "completion_code",
    "reclaimed_at",
)
# Claims sweep lapsed reservations back into the pool at most this often per study (and always
# before sending someone away for want of items); leases last minutes, so a slot comes back at
# most this much later than it could, and most claims skip the search.
SWEEP_EVERY = timedelta(seconds=10)


# --- entry -------------------------------------------------------------------------------


def participant_find(*, study: Study, id_hash: str) -> Participant | None:
    if not id_hash:
        return None
    return Participant.objects.filter(study=study, external_id_hash=id_hash).first()


def participant_enter(
    *,
    study: Study,
    platform: str,
    id_hash: str = "",
    consent: bool,
    meta: Mapping[str, str] | None = None,
) -> tuple[Participant, bool]:
    """Return the participant for this crowd identity, creating it on consent.

    A known ``id_hash`` resumes the same participant (``created`` False). Nobody is stored
    without consent: declining is counted by ``consent_decline`` and nothing else is kept.
    """
    existing = participant_find(study=study, id_hash=id_hash)
    if existing is not None:
        return existing, False
    if not study.is_open:
        raise errors.StudyNotOpen("This study is not accepting participants.")
    if not consent:
        raise errors.ConsentRequired("Consent is required to take part.")
    if not study_has_room(study=study):
        raise errors.StudyFull(
            "This study is full: every item already has the ratings it needs. Nothing about you "
            "has been stored; please return the study on your platform."
        )
    if platform not in Participant.Platform.values:
        raise errors.InvalidSubmission(f"Unknown platform {platform!r}.")
    now = timezone.now()
    for _ in range(5):
        try:
            with transaction.atomic():
                participant = Participant.objects.create(
                    study=study,
                    pseudonym=new_pseudonym(),
                    platform=platform,
                    external_id_hash=id_hash,
                    platform_meta=dict(meta or {}),
                    consented_at=now,
                    last_seen_at=now,
                )
            return participant, True
        except IntegrityError:
            # Either the same crowd id arrived twice at once (resume the winner) or a
            # pseudonym collided (draw again).
            existing = participant_find(study=study, id_hash=id_hash)
            if existing is not None:
                return existing, False
    raise RuntimeError("could not allocate a unique pseudonym")


def study_has_room(*, study: Study) -> bool:
    """Whether a newcomer would get at least one item: a regular item below its quota, or a
    lapsed reservation that the next claim gives back. Without room, people are told so before
    they start, instead of being paid a completion code for no work."""
    free = StudyItem.objects.filter(study=study, taken__lt=study.ratings_per_item).exclude(
        kind=StudyItem.Kind.ATTENTION
    )
    if free.exists():
        return True
    return Assignment.objects.filter(
        item__study=study, status=Assignment.Status.RESERVED, expires_at__lt=timezone.now()
    ).exists()


def consent_decline(*, study: Study) -> None:
    Study.objects.filter(pk=study.pk).update(consent_declines=F("consent_declines") + 1)


def participant_return(*, participant: Participant) -> None:
    """The participant leaves early: release the held slot so someone else can take it."""
    with transaction.atomic():
        # Items' taken counters change only under the study lock (see assignment_claim_next).
        sql.study_lock(participant.study_id, ("status",))
        released = list(
            Assignment.objects.filter(participant=participant, status=Assignment.Status.RESERVED)
            .order_by()
            .values_list("pk", "item_id")
        )
        if released:
            Assignment.objects.filter(pk__in=[pk for pk, _ in released]).update(
                status=Assignment.Status.RELEASED
            )
            _items_untake(Counter(item_id for _, item_id in released))
        Participant.objects.filter(pk=participant.pk).exclude(
            status=Participant.Status.COMPLETED
        ).update(status=Participant.Status.RETURNED)
    participant.refresh_from_db(fields=["status"])


def _items_untake(released: Counter[int]) -> None:
    """Give back slots: ``released`` counts, per item id, assignments that stopped being taken."""
    by_amount: dict[int, list[int]] = {}
    for item_id, n in released.items():
        by_amount.setdefault(n, []).append(item_id)
    for n, item_ids in by_amount.items():
        StudyItem.objects.filter(pk__in=item_ids).update(taken=F("taken") - n)


def _sweep_due(study: Study, now: datetime) -> bool:
    last = study.reclaimed_at
    return last is None or not last <= now < last + SWEEP_EVERY


def _reclaim_expired(*, study: Study, now: datetime) -> int:
    """Give lapsed reservations' slots back. The rows are locked: a submit racing for one of
    them either got its row lock first and answered it (then it no longer matches here) or
    finds it expired afterwards, so exactly the rows read here change, and their slots are
    given back exactly once."""
    expired = sql.expired_reservations_lock(study.pk, now)
    sql.study_swept(study.pk, now)
    if not expired:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _, _ in expired]).update(status=Assignment.Status.EXPIRED)
    _items_untake(Counter(item_id for _, item_id, _ in expired))
    Participant.objects.filter(
        pk__in={participant_id for _, _, participant_id in expired}, status=Participant.Status.ACTIVE
    ).update(status=Participant.Status.TIMED_OUT)
    return len(expired)


def _choose_left(*, item_id: int, rng: random.Random) -> bool:
    """Put response A on the left for the side shown less often so far; a coin on ties."""
    a_left, b_left = sql.pair_sides_shown(item_id)
    if a_left != b_left:
        return a_left < b_left
    return rng.random() < 0.5


def _next_attention_item(
    *, study: Study, seen_items: set[int], answered_regular: int, attention_handed: int
) -> tuple[int, str] | None:
    interval = study.attention_check_interval
    if not interval or answered_regular == 0 or answered_regular % interval:
        return None
    if answered_regular >= study.items_per_participant or attention_handed >= answered_regular // interval:
        return None
    return sql.next_attention_item(study.pk, seen_items)


def _next_regular_item(
    *, study: Study, seen_items: set[int], seen_prompts: set[int]
) -> tuple[int, str] | None:
    """``(item id, kind)``: fewest slots taken first, then the lowest shuffle key (see
    ``StudyItem.shuffle_key``), so every tied candidate is equally likely."""
    return sql.next_candidate(
        study.pk,
        study.ratings_per_item,
        seen_items,
        seen_prompts if study.one_response_per_prompt else set(),
    )


@dataclass(frozen=True)
class ClaimResult:
    assignment: Assignment | None
    answered_regular: int
    study: Study  # as read under the lock: status, quota, items per participant, completion code

    @property
    def done(self) -> bool:
        return self.assignment is None


def assignment_claim_next(*, participant: Participant, now: datetime | None = None) -> ClaimResult:
    """Hand the participant their next item, or None when they are done.

    The same open assignment comes back until it is answered (reload, back button, second
    tab). Otherwise: an attention check when one is due, else the regular item with the fewest
    answered-plus-reserved assignments below the study's quota that this participant has not
    seen (nor, by default, any other response to its prompt); among equals a random one, drawn
    with the study's seed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Everything from here to the commit is serialised per study.
        study = sql.study_lock(participant.study_id, CLAIM_STUDY_FIELDS)
        fresh_status, history = sql.participant_history(participant.pk)
        if fresh_status is None:
            raise errors.ParticipantInactive("This participant no longer exists.")
        participant.status = fresh_status
        answered_regular = sum(
            1 for h in history if h.status == Assignment.Status.ANSWERED and h.kind != StudyItem.Kind.ATTENTION
        )
        if fresh_status in (Participant.Status.COMPLETED, Participant.Status.RETURNED):
            return ClaimResult(None, answered_regular, study)
        lease = timedelta(minutes=study.lease_minutes)
        reactivate = fresh_status == Participant.Status.TIMED_OUT

        open_rows = [h for h in history if h.status == Assignment.Status.RESERVED]
        if open_rows:
            held = open_rows[0]
            sql.assignment_extend(held.assignment_id, now + lease)
            if reactivate:
                _reactivate(participant, now)
            assignment = sql.loaded(
                Assignment,
                ("id", "participant_id", "item_id", "order", "status", "expires_at", "left_is_a"),
                (held.assignment_id, participant.pk, held.item_id, held.order, held.status, now + lease,
                 held.left_is_a),
            )
            return ClaimResult(assignment, answered_regular, study)
        if not study.is_open:
            raise errors.StudyNotOpen("This study is not accepting answers any more.")
        if answered_regular >= study.items_per_participant:
            _complete(participant, now)
            return ClaimResult(None, answered_regular, study)

        swept = _sweep_due(study, now)
        if swept:
            _reclaim_expired(study=study, now=now)
        seen_items = {h.item_id for h in history}
        seen_prompts = {h.prompt_id for h in history if h.prompt_id is not None}
        next_order = max((h.order for h in history), default=-1) + 1
        rng = random.Random(f"{study.random_seed}:{participant.pk}:{next_order}")

        chosen = _next_attention_item(
            study=study,
            seen_items=seen_items,
            answered_regular=answered_regular,
            attention_handed=sum(1 for h in history if h.kind == StudyItem.Kind.ATTENTION),
        ) or _next_regular_item(study=study, seen_items=seen_items, seen_prompts=seen_prompts)
        if chosen is None and not swept and _reclaim_expired(study=study, now=now):
            chosen = _next_regular_item(study=study, seen_items=seen_items, seen_prompts=seen_prompts)
        if chosen is None:
            # Every item this participant may see is at quota: they are done early, and are
            # still owed their completion code.
            _complete(participant, now)
            return ClaimResult(None, answered_regular, study)
        item_id, kind = chosen
        assignment = sql.assignment_insert(
            participant_id=participant.pk,
            item_id=item_id,
            order=next_order,
            now=now,
            expires_at=now + lease,
            left_is_a=_choose_left(item_id=item_id, rng=rng) if kind == StudyItem.Kind.PAIR else None,
        )
        sql.item_take(item_id, shuffle_key_draw(rng))
        if reactivate:
            _reactivate(participant, now)
        return ClaimResult(assignment, answered_regular, study)


def _reactivate(participant: Participant, now: datetime) -> None:
    # last_seen_at otherwise moves on entry and on each answer; the assignment records when
    # an item was handed out, so a claim need not write to the participant as well.
    participant.status = Participant.Status.ACTIVE
    sql.participant_reactivate(participant.pk, now)


def _complete(participant: Participant, now: datetime) -> None:
    Participant.objects.filter(pk=participant.pk).exclude(
        status=Participant.Status.COMPLETED
    ).update(status=Participant.Status.COMPLETED, completed_at=now, last_seen_at=now)
    participant.status = Participant.Status.COMPLETED


# --- submit ------------------------------------------------------------------------------


def scales_for(*, study_id: int, kind: str) -> list[Scale]:
    applies = [Scale.AppliesTo.BOTH, Scale.AppliesTo.PAIR if kind == StudyItem.Kind.PAIR else Scale.AppliesTo.SINGLE]
    return sql.scales(study_id, [str(a) for a in applies])


def _clean_values(values: Any, scales: list[Scale]) -> dict[str, int]:
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise errors.InvalidSubmission("'values' must be an object mapping scale keys to integers.")
    known = {s.key: s for s in scales}
    unknown = sorted(set(map(str, values)) - set(known))
    if unknown:
        raise errors.InvalidSubmission(f"Unknown scale(s): {', '.join(unknown)}.")
    clean: dict[str, int] = {}
    for key, scale in known.items():
        if key not in values:
            raise errors.InvalidSubmission(f"Missing a value for '{key}' ({scale.question}).")
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidSubmission(f"'{key}' must be a whole number.")
        if not scale.min_value <= value <= scale.max_value:
            raise errors.InvalidSubmission(
                f"'{key}' must be between {scale.min_value} and {scale.max_value}."
            )
        clean[key] = value
    return clean


def _clean_choice(choice: Any, *, kind: str, left_is_a: bool | None) -> str:
    if kind != StudyItem.Kind.PAIR:
        if choice not in (None, ""):
            raise errors.InvalidSubmission("'choice' is only for A/B pairs.")
        return ""
    if not isinstance(choice, str) or choice not in CHOICES:
        raise errors.InvalidSubmission("Choose 'left', 'right' or 'tie'.")
    if choice == "tie":
        return Rating.Choice.TIE
    return Rating.Choice.A if (choice == "left") == bool(left_is_a) else Rating.Choice.B


@dataclass(frozen=True)
class SubmitResult:
    rating: Rating
    created: bool
    completed: bool


def rating_submit(
    *,
    participant: Participant,
    assignment_id: Any,
    values: Any,
    choice: Any = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the answer to the participant's open assignment.

    An identical replay returns the stored rating (``created`` False); a different answer to an
    answered assignment, a closed study or an expired reservation raise 409-class errors;
    malformed input raises ``InvalidSubmission``. Every refusal leaves the database untouched.
    """
    now = now or timezone.now()
    if isinstance(assignment_id, bool) or not isinstance(assignment_id, int):
        # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
        if not (
            isinstance(assignment_id, str)
            and assignment_id.isascii()
            and assignment_id.isdigit()
            and len(assignment_id) <= 18
        ):
            raise errors.InvalidSubmission("'assignment' must be an assignment id.")
        assignment_id = int(assignment_id)
    if not 0 < assignment_id < 2**63:  # beyond any id; some drivers cannot even send it
        raise errors.AssignmentNotFound("No such assignment.")
    with transaction.atomic():
        target = sql.assignment_lock_for_submit(assignment_id)
        if target is None:
            raise errors.AssignmentNotFound("No such assignment.")
        if target.participant_id != participant.pk:
            raise errors.NotYourAssignment("This assignment belongs to someone else.")
        scales = scales_for(study_id=target.study_id, kind=target.kind)
        clean = _clean_values(values, scales)
        clean_choice = _clean_choice(choice, kind=target.kind, left_is_a=target.left_is_a)

        if target.status == Assignment.Status.ANSWERED:
            rating = Rating.objects.get(assignment_id=target.id)
            stored = dict(
                RatingValue.objects.filter(rating=rating).values_list("scale__key", "value")
            )
            if stored == clean and rating.choice == clean_choice:
                return SubmitResult(rating, False, target.participant_status == Participant.Status.COMPLETED)
            raise errors.ConflictingAnswer("This item was already answered differently.")
        if target.study_status != Study.Status.RECRUITING:
            raise errors.StudyNotOpen("This study is not accepting answers any more.")
        if target.status != Assignment.Status.RESERVED:
            raise errors.ConflictingAnswer("This item's reservation has expired; load the next item.")
        if target.participant_status in (Participant.Status.COMPLETED, Participant.Status.RETURNED):
            raise errors.ParticipantInactive("You have already finished or left this study.")

        passed = None
        if target.kind == StudyItem.Kind.ATTENTION:
            passed = all(clean.get(k) == v for k, v in target.expected_values.items())
        rating = sql.rating_insert(
            target=target,
            choice=clean_choice,
            seconds=max(0.0, (now - target.reserved_at).total_seconds()),
            attention_passed=passed,
            now=now,
            values=[(s, clean[s.key]) for s in scales],
        )
        sql.assignment_answered(target.id, now)
        # Counted before this answer, in the locking statement: while this reservation is
        # open the participant can hold no other (a database constraint), so nothing else of
        # theirs can be answered in between.
        completed = (
            target.kind != StudyItem.Kind.ATTENTION
            and target.answered_before + 1 >= target.items_per_participant
        )
        status = Participant.Status.COMPLETED if completed else Participant.Status.ACTIVE
        sql.participant_answered(
            participant.pk, now, status=status, completed=completed, attention_failed=passed is False
        )
        participant.status = status
    return SubmitResult(rating, True, completed)
