"""Reads on the researcher's side, shaped so that list pages cost a fixed number of queries."""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .models import FoundationModel, Prompt, Response, Study, StudyItem


def _count_subquery(queryset: QuerySet, field: str) -> Subquery:
    return Subquery(
        queryset.values(field).annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField()
    )


def studies_with_progress(queryset: QuerySet[Study] | None = None) -> QuerySet[Study]:
    """Annotate studies with ``n_items``, ``ratings_collected`` and ``ratings_wanted``.

    Ratings wanted = regular (non-attention) items × ratings per item. Subqueries rather than
    joins, because joining items and ratings in one GROUP BY multiplies the counts.
    """
    from annotation.models import Rating

    queryset = Study.objects.all() if queryset is None else queryset
    items = StudyItem.objects.filter(study=OuterRef("pk")).exclude(kind=StudyItem.Kind.ATTENTION)
    ratings = Rating.objects.filter(item__study=OuterRef("pk")).exclude(
        item__kind=StudyItem.Kind.ATTENTION
    )
    return queryset.annotate(
        n_items=Coalesce(_count_subquery(items, "study"), Value(0)),
        ratings_collected=Coalesce(_count_subquery(ratings, "item__study"), Value(0)),
    ).annotate(ratings_wanted=F("n_items") * F("ratings_per_item"))


def prompts_missing_response(
    *, study: Study, model: FoundationModel, condition: str = ""
) -> QuerySet[Prompt]:
    """The study's prompts without a response from ``model`` under ``condition``, by id.

    A subquery rather than ``exclude(responses__model=…, responses__condition=…)``, which on a
    multi-valued relation may match the two conditions on different responses.
    """
    answered = Response.objects.filter(
        prompt__study=study, model=model, condition=condition
    ).values("prompt_id")
    return Prompt.objects.filter(study=study).exclude(pk__in=answered).order_by("pk")
