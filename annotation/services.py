"""The only ways work is handed out and recorded: entry, claim, submit, return.

htmx pages, the participant API, the admin and load tests all call these functions, so the
quota, the balance of the design and the no-duplicates guarantees live in one place.

Concurrency: a claim takes the study's row lock (``SELECT … FOR UPDATE`` on PostgreSQL; on
SQLite every write transaction is ``BEGIN IMMEDIATE``, see settings), so two claims of one study
never read the same free slot. Submissions lock only their assignment row, so they run in
parallel with each other; an expired reservation is reclaimed under the study lock, and a
submit for it waits for that lock on the assignment row and then sees it expired.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from studies.models import Scale, Study, StudyItem

from . import errors
from .identity import new_pseudonym
from .models import Assignment, Participant, Rating, RatingValue

TAKEN = (Assignment.Status.ANSWERED, Assignment.Status.RESERVED)
CHOICES = {"left", "right", "tie"}
# What a submit reads of the assignment it locks and of its item, study and participant.
SUBMIT_FIELDS = (
    "participant_id",
    "item_id",
    "status",
    "reserved_at",
    "left_is_a",
    "item__kind",
    "item__study_id",
    "item__expected_values",
    "item__study__status",
    "item__study__items_per_participant",
    "participant__status",
)
# What a claim reads of the study it locks (not the consent and instruction texts).
CLAIM_STUDY_FIELDS = (
    "status",
    "lease_minutes",
    "items_per_participant",
    "ratings_per_item",
    "attention_check_interval",
    "one_response_per_prompt",
    "random_seed",
)


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


def consent_decline(*, study: Study) -> None:
    Study.objects.filter(pk=study.pk).update(consent_declines=F("consent_declines") + 1)


def participant_return(*, participant: Participant) -> None:
    """The participant leaves early: release the held slot so someone else can take it."""
    with transaction.atomic():
        Assignment.objects.filter(participant=participant, status=Assignment.Status.RESERVED).update(
            status=Assignment.Status.RELEASED
        )
        Participant.objects.filter(pk=participant.pk).exclude(
            status=Participant.Status.COMPLETED
        ).update(status=Participant.Status.RETURNED)
    participant.refresh_from_db(fields=["status"])


# --- claim -------------------------------------------------------------------------------


def _reclaim_expired(*, study: Study, now: datetime) -> int:
    # Runs on every claim, so the common case (nothing expired) is one indexed query; the
    # empty order_by() keeps the models' default ordering from adding joins and sorts.
    expired = list(
        Assignment.objects.filter(
            item__study=study, status=Assignment.Status.RESERVED, expires_at__lt=now
        )
        .order_by()
        .values_list("pk", "participant_id")
    )
    if not expired:
        return 0
    # Under the study lock nobody else can reclaim these; a submit racing for one of them
    # holds its row lock, so the status check keeps an answer that got in first.
    n = Assignment.objects.filter(
        pk__in=[pk for pk, _ in expired], status=Assignment.Status.RESERVED
    ).update(status=Assignment.Status.EXPIRED)
    Participant.objects.filter(
        pk__in={participant_id for _, participant_id in expired}, status=Participant.Status.ACTIVE
    ).update(status=Participant.Status.TIMED_OUT)
    return n


def _choose_left(*, item_id: int, rng: random.Random) -> bool:
    shown = Assignment.objects.filter(item_id=item_id, status__in=TAKEN).aggregate(
        a_left=Count("pk", filter=Q(left_is_a=True)), b_left=Count("pk", filter=Q(left_is_a=False))
    )
    if shown["a_left"] != shown["b_left"]:
        return shown["a_left"] < shown["b_left"]
    return rng.random() < 0.5


def _next_attention_item(
    *, study: Study, seen_items: set[int], answered_regular: int, attention_handed: int
) -> StudyItem | None:
    interval = study.attention_check_interval
    if not interval or answered_regular == 0 or answered_regular % interval:
        return None
    if answered_regular >= study.items_per_participant or attention_handed >= answered_regular // interval:
        return None
    return (
        StudyItem.objects.filter(study=study, kind=StudyItem.Kind.ATTENTION)
        .exclude(pk__in=seen_items)
        .order_by("pk")
        .first()
    )


def _next_regular_item(
    *, study: Study, seen_items: set[int], seen_prompts: set[int], rng: random.Random
) -> tuple[int, str] | None:
    """``(item id, kind)`` of the chosen item. This query runs under the study lock on every
    claim, so it fetches only what the choice needs and leaves sorting to Python (the
    database would sort every candidate; Python sorts only the ties)."""
    candidates = (
        StudyItem.objects.filter(study=study)
        .exclude(kind=StudyItem.Kind.ATTENTION)
        .exclude(pk__in=seen_items)
    )
    if study.one_response_per_prompt and seen_prompts:
        candidates = candidates.exclude(prompt_id__in=seen_prompts)
    rows = list(
        candidates.annotate(taken=Count("assignments", filter=Q(assignments__status__in=TAKEN)))
        .filter(taken__lt=study.ratings_per_item)
        .order_by()
        .values_list("pk", "taken", "kind")
    )
    if not rows:
        return None
    fewest = min(taken for _pk, taken, _kind in rows)
    item_id, kind = rng.choice(sorted((pk, kind) for pk, taken, kind in rows if taken == fewest))
    return item_id, kind


@dataclass(frozen=True)
class ClaimResult:
    assignment: Assignment | None
    answered_regular: int

    @property
    def done(self) -> bool:
        return self.assignment is None


def assignment_claim_next(*, participant: Participant, now: datetime | None = None) -> ClaimResult:
    """Hand the participant their next item, or None when they are done.

    The same open assignment comes back until it is answered (reload, back button, second
    tab). Otherwise: an attention check when one is due, else the regular item with the fewest
    answered-plus-reserved assignments below the study's quota that this participant has not
    seen (nor, by default, any other response to its prompt), ties broken by the study's seed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # NO KEY UPDATE: blocks other claims of this study but not inserts that merely
        # reference the study row (new participants), which FOR UPDATE would also block.
        # Everything from here to the commit is serialised per study, so each query below
        # fetches only the columns it needs.
        study = (
            Study.objects.select_for_update(no_key=True)
            .only(*CLAIM_STUDY_FIELDS)
            .get(pk=participant.study_id)
        )
        fresh_status = Participant.objects.filter(pk=participant.pk).values_list("status", flat=True).get()
        participant.status = fresh_status
        if fresh_status in (Participant.Status.COMPLETED, Participant.Status.RETURNED):
            return ClaimResult(None, _answered_regular(participant))
        lease = timedelta(minutes=study.lease_minutes)

        history = list(
            Assignment.objects.filter(participant=participant)
            .order_by()
            .values_list("pk", "item_id", "item__prompt_id", "item__kind", "status", "order")
        )
        answered_regular = sum(
            1 for *_, kind, status, _o in history
            if status == Assignment.Status.ANSWERED and kind != StudyItem.Kind.ATTENTION
        )
        open_ids = [pk for pk, *_, status, _o in history if status == Assignment.Status.RESERVED]
        if open_ids:
            Assignment.objects.filter(pk=open_ids[0]).update(expires_at=now + lease)
            _touch(participant, now, reactivate=fresh_status == Participant.Status.TIMED_OUT)
            return ClaimResult(Assignment.objects.get(pk=open_ids[0]), answered_regular)
        if not study.is_open:
            raise errors.StudyNotOpen("This study is not accepting answers any more.")
        if answered_regular >= study.items_per_participant:
            _complete(participant, now)
            return ClaimResult(None, answered_regular)

        _reclaim_expired(study=study, now=now)
        seen_items = {item_id for _pk, item_id, *_ in history}
        seen_prompts = {prompt_id for _pk, _i, prompt_id, *_ in history if prompt_id is not None}
        kinds = Counter(kind for *_, kind, _s, _o in history)
        next_order = max((order for *_, order in history), default=-1) + 1
        rng = random.Random(f"{study.random_seed}:{participant.pk}:{next_order}")

        attention = _next_attention_item(
            study=study,
            seen_items=seen_items,
            answered_regular=answered_regular,
            attention_handed=kinds[StudyItem.Kind.ATTENTION],
        )
        chosen = (
            (attention.pk, attention.kind)
            if attention is not None
            else _next_regular_item(study=study, seen_items=seen_items, seen_prompts=seen_prompts, rng=rng)
        )
        if chosen is None:
            # Every item this participant may see is at quota: they are done early, and are
            # still owed their completion code.
            _complete(participant, now)
            return ClaimResult(None, answered_regular)
        item_id, kind = chosen
        assignment = Assignment.objects.create(
            participant=participant,
            item_id=item_id,
            order=next_order,
            reserved_at=now,
            expires_at=now + lease,
            left_is_a=_choose_left(item_id=item_id, rng=rng) if kind == StudyItem.Kind.PAIR else None,
        )
        _touch(participant, now, reactivate=fresh_status == Participant.Status.TIMED_OUT)
        return ClaimResult(assignment, answered_regular)


def _answered_regular(participant: Participant) -> int:
    return (
        Assignment.objects.filter(participant=participant, status=Assignment.Status.ANSWERED)
        .exclude(item__kind=StudyItem.Kind.ATTENTION)
        .count()
    )


def _answered_regular_of_owner() -> Coalesce:
    """Regular items the assignment's participant has answered, as a subquery annotation."""
    answered = (
        Assignment.objects.filter(participant_id=OuterRef("participant_id"), status=Assignment.Status.ANSWERED)
        .exclude(item__kind=StudyItem.Kind.ATTENTION)
        .order_by()
        .values("participant_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(answered), 0)


def _touch(participant: Participant, now: datetime, *, reactivate: bool) -> None:
    updates: dict[str, Any] = {"last_seen_at": now}
    if reactivate:
        updates["status"] = Participant.Status.ACTIVE
        participant.status = Participant.Status.ACTIVE
    Participant.objects.filter(pk=participant.pk).update(**updates)


def _complete(participant: Participant, now: datetime) -> None:
    Participant.objects.filter(pk=participant.pk).exclude(
        status=Participant.Status.COMPLETED
    ).update(status=Participant.Status.COMPLETED, completed_at=now, last_seen_at=now)
    participant.status = Participant.Status.COMPLETED


# --- submit ------------------------------------------------------------------------------


def scales_for(*, study_id: int, kind: str) -> list[Scale]:
    applies = [Scale.AppliesTo.BOTH, Scale.AppliesTo.PAIR if kind == StudyItem.Kind.PAIR else Scale.AppliesTo.SINGLE]
    return list(Scale.objects.filter(study_id=study_id, applies_to__in=applies).order_by("order", "pk"))


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
        try:
            assignment = (
                Assignment.objects.select_for_update(of=("self",))
                .select_related("item__study", "participant")
                .only(*SUBMIT_FIELDS)
                .annotate(answered_before=_answered_regular_of_owner())
                .get(pk=assignment_id)
            )
        except Assignment.DoesNotExist:
            raise errors.AssignmentNotFound("No such assignment.") from None
        if assignment.participant_id != participant.pk:
            raise errors.NotYourAssignment("This assignment belongs to someone else.")
        item = assignment.item
        scales = scales_for(study_id=item.study_id, kind=item.kind)
        clean = _clean_values(values, scales)
        clean_choice = _clean_choice(choice, kind=item.kind, left_is_a=assignment.left_is_a)

        if assignment.status == Assignment.Status.ANSWERED:
            rating = Rating.objects.get(assignment=assignment)
            stored = dict(
                RatingValue.objects.filter(rating=rating).values_list("scale__key", "value")
            )
            if stored == clean and rating.choice == clean_choice:
                return SubmitResult(rating, False, assignment.participant.status == Participant.Status.COMPLETED)
            raise errors.ConflictingAnswer("This item was already answered differently.")
        if not item.study.is_open:
            raise errors.StudyNotOpen("This study is not accepting answers any more.")
        if assignment.status != Assignment.Status.RESERVED:
            raise errors.ConflictingAnswer("This item's reservation has expired; load the next item.")
        if assignment.participant.status in (Participant.Status.COMPLETED, Participant.Status.RETURNED):
            raise errors.ParticipantInactive("You have already finished or left this study.")

        passed = None
        if item.kind == StudyItem.Kind.ATTENTION:
            passed = all(clean.get(k) == v for k, v in (item.expected_values or {}).items())
        rating = Rating.objects.create(
            assignment=assignment,
            participant_id=participant.pk,
            item=item,
            choice=clean_choice,
            seconds=max(0.0, (now - assignment.reserved_at).total_seconds()),
            attention_passed=passed,
        )
        RatingValue.objects.bulk_create(
            RatingValue(rating=rating, scale=s, value=clean[s.key], scale_min=s.min_value, scale_max=s.max_value)
            for s in scales
        )
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.ANSWERED, answered_at=now
        )
        updates: dict[str, Any] = {"last_seen_at": now, "status": Participant.Status.ACTIVE}
        if passed is False:
            updates["attention_failures"] = F("attention_failures") + 1
        # Counted before this answer, in the locking query: while this reservation is open
        # the participant can hold no other (a database constraint), so nothing else of
        # theirs can be answered in between.
        completed = (
            item.kind != StudyItem.Kind.ATTENTION
            and assignment.answered_before + 1 >= item.study.items_per_participant
        )
        if completed:
            updates.update(status=Participant.Status.COMPLETED, completed_at=now)
        Participant.objects.filter(pk=participant.pk).update(**updates)
        participant.status = updates["status"]
    return SubmitResult(rating, True, completed)
