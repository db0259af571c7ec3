"""Writes on the researcher's side: default scales, item building, recruitment state."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import DEFAULT_SCALES, Pair, Prompt, Response, Scale, Study, StudyItem


def study_ensure_default_scales(*, study: Study) -> list[Scale]:
    """Give a study the two default scales when it has none; returns the study's scales."""
    if not study.scales.exists():
        Scale.objects.bulk_create([Scale(study=study, **spec) for spec in DEFAULT_SCALES])
    return list(study.scales.all())


def _exclusion_rules_checked(rules: Any) -> dict[str, Any]:
    """The pre-registered rules as ``analysis.exclusions`` reads them, every key spelt out.

    Stored normalised so that a later change of a rule's default cannot silently change what
    was pre-registered.
    """
    from analysis.exclusions import ExclusionRules

    if not isinstance(rules, Mapping):
        raise ValidationError({"exclusion_rules": "must be a JSON object"})
    try:
        return ExclusionRules.from_dict(rules).to_dict()
    except (TypeError, ValueError) as exc:
        raise ValidationError({"exclusion_rules": str(exc)}) from exc


def study_create(*, fields: Mapping[str, Any]) -> Study:
    """A new study with the default scales (as the admin and the importer give one).

    ``ValidationError`` for anything the model or the exclusion rules refuse, including a
    slug taken by a concurrent request.
    """
    fields = dict(fields)
    if "exclusion_rules" in fields:
        fields["exclusion_rules"] = _exclusion_rules_checked(fields["exclusion_rules"])
    study = Study(**fields)
    study.full_clean()
    try:
        with transaction.atomic():
            study.save()
            study_ensure_default_scales(study=study)
    except IntegrityError as exc:  # the slug was taken between full_clean() and save()
        raise ValidationError({"slug": "A study with this slug already exists."}) from exc
    return study


def study_update(*, study: Study, fields: Mapping[str, Any]) -> Study:
    """Change some of a study's fields; only those fields are written."""
    fields = dict(fields)
    if "exclusion_rules" in fields:
        fields["exclusion_rules"] = _exclusion_rules_checked(fields["exclusion_rules"])
    for name, value in fields.items():
        setattr(study, name, value)
    study.full_clean()
    study.save(update_fields=[*fields, "updated_at"])
    return study


def scale_create(*, study: Study, fields: Mapping[str, Any]) -> Scale:
    """A new rating scale of ``study``; ``ValidationError`` for a taken key or min ≥ max."""
    scale = Scale(study=study, **fields)
    scale.full_clean()  # includes the unique key and min < max constraints
    try:
        with transaction.atomic():
            scale.save()
    except IntegrityError as exc:  # the key was taken by a concurrent request
        raise ValidationError({"key": "This study already has a scale with this key."}) from exc
    return scale


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
