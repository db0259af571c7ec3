"""Reads on the researcher's side, shaped so that list pages cost a fixed number of queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
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


# -- the researcher API's lists: one query per page whatever the page size -------------------
def studies_for_api(
    *, filters: Mapping[str, Any] | None = None, detail: bool = False
) -> QuerySet[Study]:
    """Studies with their progress, newest first; ``detail`` adds the scales (one query)."""
    filters = filters or {}
    queryset = studies_with_progress()
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if detail:
        queryset = queryset.prefetch_related("scales")
    return queryset.order_by("-created_at", "-pk")


def study_prompts(*, study: Study, filters: Mapping[str, Any] | None = None) -> QuerySet[Prompt]:
    """The study's prompts by id, with ``n_responses``; ``filters`` from the API's query."""
    filters = filters or {}
    responses = Response.objects.filter(prompt=OuterRef("pk"))
    queryset = Prompt.objects.filter(study=study).annotate(
        n_responses=Coalesce(_count_subquery(responses, "prompt"), Value(0))
    )
    for name in ("category", "should_refuse", "source", "source_id", "language", "domain"):
        if filters.get(name) is not None:
            queryset = queryset.filter(**{name: filters[name]})
    if filters.get("search"):
        queryset = queryset.filter(text__icontains=filters["search"])
    return queryset.order_by("pk")


def study_responses(
    *, study: Study, filters: Mapping[str, Any] | None = None
) -> QuerySet[Response]:
    """The study's responses by id, with their model; ``refusal_label=""`` selects the
    unlabelled ones."""
    filters = filters or {}
    queryset = Response.objects.filter(prompt__study=study).select_related("model")
    lookups = {
        "prompt": "prompt_id",
        "model": "model__name",
        "condition": "condition",
        "refusal_label": "refusal_label",
        "labeller": "labeller",
        "category": "prompt__category",
        "should_refuse": "prompt__should_refuse",
    }
    for name, lookup in lookups.items():
        if filters.get(name) is not None:
            queryset = queryset.filter(**{lookup: filters[name]})
    return queryset.order_by("pk")


def study_items(*, study: Study, filters: Mapping[str, Any] | None = None) -> QuerySet[StudyItem]:
    """The study's items by id, with the models they show and ``n_ratings``."""
    from annotation.models import Rating

    filters = filters or {}
    ratings = Rating.objects.filter(item=OuterRef("pk"))
    queryset = (
        StudyItem.objects.filter(study=study)
        .select_related("response__model", "pair__response_a__model", "pair__response_b__model")
        .annotate(n_ratings=Coalesce(_count_subquery(ratings, "item"), Value(0)))
    )
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("prompt") is not None:
        queryset = queryset.filter(prompt_id=filters["prompt"])
    return queryset.order_by("pk")


def study_participants(*, study: Study, filters: Mapping[str, Any] | None = None) -> QuerySet:
    """The study's participants in order of entry, with ``n_rated`` (regular items) and
    ``n_attention_checks`` answered. Two counts over one join: both filter the same rows, so
    neither multiplies the other."""
    from annotation.models import Participant

    filters = filters or {}
    regular = [kind for kind in StudyItem.Kind.values if kind != StudyItem.Kind.ATTENTION]
    queryset = Participant.objects.filter(study=study).annotate(
        n_rated=Count("ratings", filter=Q(ratings__item__kind__in=regular)),
        n_attention_checks=Count("ratings", filter=Q(ratings__item__kind=StudyItem.Kind.ATTENTION)),
    )
    for name in ("status", "platform"):
        if filters.get(name):
            queryset = queryset.filter(**{name: filters[name]})
    return queryset.order_by("created_at", "pk")
