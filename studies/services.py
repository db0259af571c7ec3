"""Writes on the researcher's side: default scales, item building, recruitment state."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

from django.db import transaction

from .models import DEFAULT_SCALES, Pair, Prompt, Response, Scale, Study, StudyItem


def study_ensure_default_scales(*, study: Study) -> list[Scale]:
    """Give a study the two default scales when it has none; returns the study's scales."""
    if not study.scales.exists():
        Scale.objects.bulk_create([Scale(study=study, **spec) for spec in DEFAULT_SCALES])
    return list(study.scales.all())


def study_set_status(*, study: Study, status: str) -> Study:
    if status not in Study.Status.values:
        raise ValueError(f"unknown status {status!r}")
    study.status = status
    study.save(update_fields=["status", "updated_at"])
    return study


def studies_set_status(*, studies: Iterable[Study], status: str) -> int:
    if status not in Study.Status.values:
        raise ValueError(f"unknown status {status!r}")
    ids = [s.pk for s in studies]
    return Study.objects.filter(pk__in=ids).update(status=status)


@transaction.atomic
def study_build_items(
    *,
    study: Study,
    singles: bool = True,
    pairs: bool = True,
    max_pairs_per_prompt: int | None = None,
) -> dict[str, int]:
    """Create single-response items and A/B pairs for every prompt of the study.

    Pairs are every two-model combination of a prompt's responses (capped per prompt, chosen
    with the study's seed so rebuilding gives the same pairs). Existing items and pairs are
    kept, so the call is idempotent.
    """
    rng = random.Random(study.random_seed)
    responses = list(
        Response.objects.filter(prompt__study=study).order_by("prompt_id", "model__name", "id")
    )
    existing_singles = set(
        StudyItem.objects.filter(study=study, kind=StudyItem.Kind.SINGLE).values_list(
            "response_id", flat=True
        )
    )
    new_singles = [
        StudyItem(study=study, kind=StudyItem.Kind.SINGLE, prompt_id=r.prompt_id, response=r)
        for r in responses
        if singles and r.pk not in existing_singles
    ]
    StudyItem.objects.bulk_create(new_singles)

    new_pairs: list[Pair] = []
    if pairs:
        existing_pairs = {
            frozenset(ab)
            for ab in Pair.objects.filter(prompt__study=study).values_list("response_a", "response_b")
        }
        for prompt_id, group in itertools.groupby(responses, key=lambda r: r.prompt_id):
            combos = [
                (a, b) for a, b in itertools.combinations(list(group), 2) if a.model_id != b.model_id
            ]
            if max_pairs_per_prompt is not None and len(combos) > max_pairs_per_prompt:
                combos = rng.sample(combos, max_pairs_per_prompt)
            new_pairs += [
                Pair(prompt_id=prompt_id, response_a=a, response_b=b)
                for a, b in combos
                if frozenset((a.pk, b.pk)) not in existing_pairs
            ]
        Pair.objects.bulk_create(new_pairs)
        paired = StudyItem.objects.filter(study=study, kind=StudyItem.Kind.PAIR).values("pair_id")
        StudyItem.objects.bulk_create(
            StudyItem(study=study, kind=StudyItem.Kind.PAIR, prompt_id=prompt_id, pair_id=pair_id)
            for pair_id, prompt_id in Pair.objects.filter(prompt__study=study)
            .exclude(pk__in=paired)
            .values_list("pk", "prompt_id")
        )
    return {"singles": len(new_singles), "pairs": len(new_pairs)}


def prompt_category_for(*, should_refuse: bool, seemingly_toxic: bool = False) -> str:
    if should_refuse:
        return Prompt.Category.HARMFUL
    return Prompt.Category.SEEMINGLY_TOXIC if seemingly_toxic else Prompt.Category.BENIGN
