"""Deleting participants or assignments from a running study, and repairing the quota counts.

The annotation services keep each item's count of taken slots (``StudyItem.taken``) in step with
its assignments. A plain cascade from the admin would leave counts of assignments that no longer
exist, and those items would never be handed out again: deletions come through here, under the
study locks, and recount what they touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from studies.models import StudyItem

from . import sql
from .models import Assignment, Participant
from .services import TAKEN


def participants_delete(*, participants: QuerySet[Participant]) -> int:
    """Delete participants with everything they gave, and free the slots they held.

    The admin deletes through here: a cascade alone would leave the items' taken counters
    counting assignments that no longer exist, and those items would never be handed out again.
    """
    return _delete_and_recount(participants, Assignment.objects.filter(participant__in=participants))


def assignments_delete(*, assignments: QuerySet[Assignment]) -> int:
    """Delete assignments (and their ratings) and give their items' slots back."""
    return _delete_and_recount(assignments, assignments)


def _delete_and_recount(doomed: QuerySet, assignments: QuerySet[Assignment]) -> int:
    with transaction.atomic():
        study_ids = sorted(set(assignments.order_by().values_list("item__study_id", flat=True)))
        for study_id in study_ids:  # in id order, so two deletions cannot deadlock
            sql.study_lock(study_id, ("status",))
        item_ids = set(assignments.order_by().values_list("item_id", flat=True))
        deleted, _ = doomed.delete()
        items_recount(item_ids=item_ids)
    return deleted


def items_recount(*, item_ids: Iterable[int] | None = None, study_id: int | None = None) -> int:
    """Set items' taken counters from their assignments: the repair for anything that changed
    assignments without the services. Call it under the study lock while the study runs."""
    items = StudyItem.objects.all()
    if item_ids is not None:
        items = items.filter(pk__in=list(item_ids))
    if study_id is not None:
        items = items.filter(study_id=study_id)
    taken = (
        Assignment.objects.filter(item_id=OuterRef("pk"), status__in=TAKEN)
        .order_by()
        .values("item_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return items.update(taken=Coalesce(Subquery(taken), 0))
