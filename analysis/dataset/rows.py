"""The ORM readers: one bounded, ordered query per tidy file, yielding its rows as tuples.

Each generator yields in the column order of ``columns``; the exclusion verdicts that the
ratings, comparisons and participants rows carry are computed here too, in chunks, so that
memory stays bounded however many ratings a study has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from django.db import models

from studies.models import Response, Study

from .columns import RESPONSES_COLUMNS

_RESPONSE_FIELDS = (
    "pk",
    "prompt_id",
    "prompt__source",
    "prompt__source_id",
    "prompt__category",
    "prompt__should_refuse",
    "prompt__domain",
    "prompt__language",
    "model__name",
    "condition",
    "refusal_label",
    "refusal_score",
    "labeller",
)


def model_label(name: str, condition: str) -> str:
    """The ``model`` column: the model's name, with its condition when it has one.

    Two conditions of one model (say, with and without a system prompt) are different systems
    for every metric, so they must not share a ``model`` value: ``llama2 [no-system-prompt]``.
    """
    return f"{name} [{condition}]" if condition else name


def _response_rows(study: Study) -> Iterator[tuple[Any, ...]]:
    """One tuple per response, in :data:`RESPONSES_COLUMNS` order; ``None`` for blanks."""
    rows = (
        Response.objects.filter(prompt__study=study)
        .order_by("prompt_id", "model__name", "condition", "pk")
        .values_list(*_RESPONSE_FIELDS)
        .iterator(chunk_size=2000)
    )
    for row in rows:
        pk, prompt_id, source, source_id, category, should_refuse, domain, language = row[:8]
        model, condition, label, score, labeller = row[8:]
        refused = None if not label else int(label != Response.RefusalLabel.FULL_COMPLIANCE)
        yield (
            study.slug,
            pk,
            prompt_id,
            source,
            source_id,
            category,
            int(should_refuse),
            domain,
            language,
            model_label(model, condition),
            label or None,
            refused,
            score,
            labeller or None,
        )


def responses_frame(study: Study) -> pd.DataFrame:
    """``responses.csv`` as a DataFrame: one row per response of ``study`` (one query).

    ``refused`` is 1/0 and ``<NA>`` for an unlabelled response; a blank ``refusal_label`` or
    ``labeller`` and an unset ``refusal_score`` are missing values (NaN), as pandas reads them.
    """
    frame = pd.DataFrame.from_records(list(_response_rows(study)), columns=list(RESPONSES_COLUMNS))
    dtypes = {"response": "int64", "prompt": "int64", "should_refuse": "int64"}
    return frame.astype({**dtypes, "refused": "Int64", "refusal_score": "float64"})


def _participants_base(study: Study) -> pd.DataFrame:
    from annotation.models import Participant

    rows = Participant.objects.filter(study=study).order_by("pk").values_list(
        "pk", "pseudonym", "platform", "status", "consented_at", "completed_at", "attention_failures"
    )
    frame = pd.DataFrame.from_records(
        list(rows),
        columns=["pk", "participant", "platform", "status", "consented_at", "completed_at", "attention_failures"],
    )
    frame["consented"] = frame["consented_at"].notna()
    frame["completed"] = frame["status"] == "completed"
    return frame


def _evidence_rows(study: Study) -> Iterator[tuple[Any, ...]]:
    """(participant pk, item, order, scale, value, seconds, attention_check) per value, in
    participant and presentation order, streamed."""
    from annotation.models import RatingValue

    return (
        RatingValue.objects.filter(rating__item__study=study)
        .order_by("rating__participant_id", "rating__assignment__order", "scale__order", "scale_id")
        .values_list(
            "rating__participant_id",
            "rating__item_id",
            "rating__assignment__order",
            "scale__key",
            "value",
            "rating__seconds",
            "rating__item__kind",
        )
        .iterator(chunk_size=5000)
    )


def participant_verdicts(study: Study, rules: Any | None = None) -> pd.DataFrame:
    """Every participant of ``study`` with the evidence and verdict of the study's
    pre-registered exclusions (analysis.exclusions), computed in chunks of participants so that
    memory does not grow with the number of ratings. Index: participant pk."""
    from itertools import groupby

    from ..exclusions import ExclusionRules, participant_exclusions

    # The chunk bounds live on the package (its __init__) and are read at each call, not bound
    # at import, so that setting them there takes effect.
    from . import _EVIDENCE_CHUNK, _EVIDENCE_ROWS

    rules = rules or ExclusionRules.from_dict(study.exclusion_rules)
    base = _participants_base(study)
    columns = ["participant", "item", "order", "scale", "value", "seconds", "attention_check"]
    verdicts: list[pd.DataFrame] = []
    evidence = groupby(_evidence_rows(study), key=lambda row: row[0])
    pending: list[tuple] = []
    pending_people: set[int] = set()

    def flush(people: set[int], rows: list[tuple]) -> None:
        chunk = base[base["pk"].isin(people)].rename(columns={"participant": "pseudonym"})
        chunk = chunk.rename(columns={"pk": "participant"})
        ratings = pd.DataFrame.from_records(rows, columns=columns)
        ratings["attention_check"] = (ratings["attention_check"] == "attention").astype(int)
        verdicts.append(participant_exclusions(chunk, ratings, rules))

    for participant_id, rows in evidence:
        pending.extend(rows)
        pending_people.add(participant_id)
        if len(pending_people) >= _EVIDENCE_CHUNK or len(pending) >= _EVIDENCE_ROWS:
            flush(pending_people, pending)
            pending, pending_people = [], set()
    silent = set(base["pk"]) - {pk for frame in verdicts for pk in frame.index} - pending_people
    flush(pending_people | silent, pending)
    table = pd.concat(verdicts) if verdicts else pd.DataFrame()
    table = base.set_index("pk").join(
        table.drop(columns=["consented", "completed", "attention_failures"], errors="ignore")
    )
    table.index.name = "pk"
    return table


def _model_orr(study: Study) -> dict[str, float | None]:
    from ..metrics import model_orr_map

    responses = responses_frame(study)
    return model_orr_map(responses) if len(responses) else {}


def _rating_rows(study: Study, verdicts: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    from annotation.models import RatingValue

    orr = _model_orr(study)
    names = verdicts["participant"].to_dict()
    excluded = verdicts["excluded"].to_dict() if "excluded" in verdicts else {}
    reasons = verdicts["exclusion_reason"].to_dict() if "exclusion_reason" in verdicts else {}
    rows = (
        RatingValue.objects.filter(rating__item__study=study)
        .order_by("rating__participant_id", "rating__assignment__order", "scale__order", "scale_id")
        .values_list(
            "rating__participant_id",
            "rating__item_id",
            "rating__item__kind",
            "rating__item__prompt_id",
            "rating__item__prompt__category",
            "rating__item__prompt__should_refuse",
            "rating__item__prompt__domain",
            "rating__item__prompt__language",
            "rating__item__response__model__name",
            "rating__item__response__condition",
            "rating__item__response_id",
            "rating__item__response__refusal_label",
            "rating__item__response__refusal_score",
            "rating__item__response__refusal_style",
            "scale__key",
            "value",
            "rating__seconds",
            "rating__assignment__order",
        )
        .iterator(chunk_size=5000)
    )
    for (
        pid, item, kind, prompt, category, should_refuse, domain, language, model, condition,
        response, label, score, style, scale, value, seconds, order,
    ) in rows:
        model_name = model_label(model, condition or "") if model else None
        yield (
            study.slug,
            names.get(pid),
            item,
            prompt,
            category,
            None if should_refuse is None else int(should_refuse),
            domain,
            language,
            model_name,
            response,
            label or None,
            None if not label else int(label != Response.RefusalLabel.FULL_COMPLIANCE),
            score,
            style or None,
            orr.get(model_name) if model_name else None,
            scale,
            value,
            round(seconds, 3),
            int(kind == "attention"),
            int(bool(excluded.get(pid, False))),
            reasons.get(pid) or None,
            order,
            kind,
        )


def _comparison_rows(study: Study, verdicts: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    from annotation.models import Rating

    names = verdicts["participant"].to_dict()
    excluded = verdicts["excluded"].to_dict() if "excluded" in verdicts else {}
    reasons = verdicts["exclusion_reason"].to_dict() if "exclusion_reason" in verdicts else {}
    rows = (
        Rating.objects.filter(item__study=study, item__kind="pair")
        .order_by("participant_id", "assignment__order")
        .values_list(
            "participant_id",
            "item_id",
            "item__prompt_id",
            "item__pair__response_a__model__name",
            "item__pair__response_a__condition",
            "item__pair__response_b__model__name",
            "item__pair__response_b__condition",
            "item__pair__response_a_id",
            "item__pair__response_b_id",
            "assignment__left_is_a",
            "choice",
            "seconds",
            "assignment__order",
        )
        .iterator(chunk_size=5000)
    )
    for pid, item, prompt, ma, ca, mb, cb, ra, rb, left_is_a, choice, seconds, order in rows:
        yield (
            study.slug,
            names.get(pid),
            item,
            prompt,
            model_label(ma, ca or ""),
            model_label(mb, cb or ""),
            ra,
            rb,
            "a" if left_is_a else "b",
            choice,
            round(seconds, 3),
            int(bool(excluded.get(pid, False))),
            reasons.get(pid) or None,
            order,
        )


def _participant_rows(study: Study, verdicts: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    from annotation.models import Rating

    counts = dict(
        Rating.objects.filter(item__study=study)
        .exclude(item__kind="attention")
        .values_list("participant_id")
        .annotate(n=models.Count("pk"))
        .values_list("participant_id", "n")
    )
    for pk, row in verdicts.iterrows():
        median = row.get("median_seconds")
        yield (
            study.slug,
            row["participant"],
            row["platform"],
            row["status"],
            int(bool(row["consented"])),
            int(bool(row["completed"])),
            row["consented_at"].isoformat() if pd.notna(row["consented_at"]) else None,
            row["completed_at"].isoformat() if pd.notna(row["completed_at"]) else None,
            counts.get(pk, 0),
            int(row["attention_failures"]),
            None if pd.isna(median) else round(float(median), 3),
            None if pd.isna(row.get("longest_run")) else int(row["longest_run"]),
            int(bool(row.get("excluded", False))),
            row.get("exclusion_reason") or None,
        )
