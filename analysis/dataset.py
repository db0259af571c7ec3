"""The one module of ``analysis/`` that reads the ORM: it builds the tidy frames and files.

Everything else in ``analysis/`` is a pure function of the DataFrames built here. Each tidy file
of the house plan has a column tuple, a row generator over one bounded query, a frame builder
and a streaming CSV writer; so far: ``responses.csv``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from django.db import models

from studies.models import Response, Study

# -- responses.csv ------------------------------------------------------------------------------
RESPONSES_COLUMNS = (
    "study",
    "response",
    "prompt",
    "source",
    "source_id",
    "prompt_category",
    "should_refuse",
    "domain",
    "language",
    "model",
    "refusal_label",
    "refused",
    "refusal_score",
    "labeller",
)
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


def write_responses_csv(study: Study, path: str | Path) -> int:
    """Write ``responses.csv`` for ``study`` to ``path``, streaming; returns the row count.

    Blank cells for missing values; UTF-8 with a header row, as the house plan prescribes.
    """
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(RESPONSES_COLUMNS)
        for row in _response_rows(study):
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


# -- ratings.csv, comparisons.csv, participants.csv, codebook.json ------------------------------
RATINGS_COLUMNS = (
    "study",
    "participant",
    "item",
    "prompt",
    "prompt_category",
    "should_refuse",
    "domain",
    "language",
    "model",
    "response",
    "refusal_label",
    "refused",
    "refusal_score",
    "refusal_style",
    "model_orr",
    "scale",
    "value",
    "seconds",
    "attention_check",
    "excluded",
    "exclusion_reason",
    # Extensions of the house plan, after its columns: position in the participant's
    # sequence, and the item kind (pair-scale rows have no single model or response).
    "order",
    "item_kind",
)
COMPARISONS_COLUMNS = (
    "study",
    "participant",
    "item",
    "prompt",
    "model_a",
    "model_b",
    "response_a",
    "response_b",
    "shown_left",
    "choice",
    "seconds",
    "excluded",
    "exclusion_reason",
    "order",
)
PARTICIPANTS_COLUMNS = (
    "study",
    "participant",
    "platform",
    "status",
    "consented",
    "completed",
    "consented_at",
    "completed_at",
    "n_items",
    "attention_failures",
    "median_seconds",
    "longest_run",
    "excluded",
    "exclusion_reason",
)
_EVIDENCE_CHUNK = 2000  # participants judged at a time: memory stays bounded by this …
_EVIDENCE_ROWS = 100_000  # … and by their rating values (2,000 people × 500 values = 1M rows)


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

    from .exclusions import ExclusionRules, participant_exclusions

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
    from .metrics import model_orr_map

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


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


def iter_ratings_csv(study: Study) -> Iterator[str]:
    """ratings.csv as an iterator of text lines, for streaming HTTP responses."""
    import io

    verdicts = participant_verdicts(study)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RATINGS_COLUMNS)
    for i, row in enumerate(_rating_rows(study, verdicts)):
        writer.writerow(["" if value is None else value for value in row])
        if i % 1000 == 999:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_study(study: Study, out_dir: str | Path) -> dict[str, int]:
    """Write the five tidy files of the house plan into ``out_dir``; returns row counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verdicts = participant_verdicts(study)
    counts = {
        "ratings.csv": _write_csv(out / "ratings.csv", RATINGS_COLUMNS, _rating_rows(study, verdicts)),
        "comparisons.csv": _write_csv(
            out / "comparisons.csv", COMPARISONS_COLUMNS, _comparison_rows(study, verdicts)
        ),
        "responses.csv": write_responses_csv(study, out / "responses.csv"),
        "participants.csv": _write_csv(
            out / "participants.csv", PARTICIPANTS_COLUMNS, _participant_rows(study, verdicts)
        ),
    }
    (out / "codebook.json").write_text(
        json.dumps(codebook(study), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return counts


def study_flow(study: Study) -> dict[str, Any]:
    """The participant flow of ``study`` (entered → consented → completed → excluded →
    analysed); people who declined consent are counted, never stored."""
    from .exclusions import ExclusionRules, participant_flow

    rules = ExclusionRules.from_dict(study.exclusion_rules)
    verdicts = participant_verdicts(study, rules)
    table = verdicts.set_index("participant")
    flow = participant_flow(table, rules) if len(table) else {
        "entered": 0, "consented": 0, "not_consented": 0, "completed": 0, "excluded": 0,
        "excluded_by_reason": {}, "excluded_first_reason": {}, "analysed": 0, "rules": rules.to_dict(),
    }
    flow["entered"] += study.consent_declines
    flow["not_consented"] += study.consent_declines
    # People who finished without rating anything (every item was at quota when they came)
    # break no rule, but they are not in any model: count them apart from the analysed.
    from annotation.models import Rating

    rated = set(
        Rating.objects.filter(item__study=study)
        .exclude(item__kind="attention")
        .values_list("participant_id", flat=True)
        .distinct()
    )
    if "analysed" in verdicts:
        idle = int((verdicts["analysed"].fillna(False).astype(bool) & ~verdicts.index.isin(rated)).sum())
    else:
        idle = 0
    flow["no_ratings"] = idle
    flow["analysed"] -= idle
    return flow


COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ratings.csv": {
        "study": "study slug",
        "participant": "pseudonym, stable within the study (never the crowd-platform id)",
        "item": "study item id",
        "prompt": "prompt id (blank for attention checks)",
        "prompt_category": "benign | seemingly_toxic | harmful",
        "should_refuse": "1 if a model should refuse the prompt, else 0",
        "domain": "prompt domain or focus",
        "language": "prompt language (BCP 47)",
        "model": "foundation model (with its condition in brackets when it has one)",
        "response": "response id",
        "refusal_label": "full_compliance | partial_refusal | full_refusal (automated or human label)",
        "refused": "1 unless full_compliance; blank when unlabelled",
        "refusal_score": "automated refusal score, when a labeller gives one",
        "refusal_style": "none | direct | explanation | redirection | partial_compliance (blank when unknown)",
        "model_orr": "the model's automated over-refusal rate in this study (refused share of should_refuse=0 prompts, full or partial)",
        "scale": "scale key",
        "value": "the rating",
        "seconds": "seconds on the item, measured by the server",
        "attention_check": "1 on attention-check items",
        "excluded": "1 if the participant is excluded by the pre-registered rules",
        "exclusion_reason": "reasons joined by ';' (incomplete, attention, speeding, straightlining)",
        "order": "position of the item in the participant's sequence (0-based)",
        "item_kind": "single | pair | attention",
    },
    "comparisons.csv": {
        "study": "study slug",
        "participant": "pseudonym",
        "item": "study item id",
        "prompt": "prompt id",
        "model_a": "model of response A",
        "model_b": "model of response B",
        "response_a": "response id of A",
        "response_b": "response id of B",
        "shown_left": "a or b: which response was shown on the left",
        "choice": "a | b | tie (identity, not position)",
        "seconds": "seconds on the item",
        "excluded": "1 if the participant is excluded",
        "exclusion_reason": "as in ratings.csv",
        "order": "position in the participant's sequence",
    },
    "responses.csv": {
        "study": "study slug",
        "response": "response id",
        "prompt": "prompt id",
        "source": "benchmark of the prompt, e.g. xstest",
        "source_id": "the benchmark's own prompt id, e.g. v2-1",
        "prompt_category": "benign | seemingly_toxic | harmful",
        "should_refuse": "1 if a model should refuse the prompt",
        "domain": "prompt domain",
        "language": "prompt language",
        "model": "foundation model",
        "refusal_label": "full_compliance | partial_refusal | full_refusal",
        "refused": "1 unless full_compliance; blank when unlabelled",
        "refusal_score": "automated refusal score",
        "labeller": "who or what set the label",
    },
    "participants.csv": {
        "study": "study slug",
        "participant": "pseudonym",
        "platform": "prolific | mturk | direct",
        "status": "active | completed | returned | timed_out",
        "consented": "1 if consent was given (decliners are only counted, never stored)",
        "completed": "1 if the session was completed",
        "consented_at": "ISO 8601 time of consent",
        "completed_at": "ISO 8601 time of completion",
        "n_items": "regular items rated",
        "attention_failures": "attention checks failed",
        "median_seconds": "median seconds per item",
        "longest_run": "longest run of identical consecutive values on one scale",
        "excluded": "1 if excluded by the pre-registered rules",
        "exclusion_reason": "as in ratings.csv",
    },
}


def codebook(study: Study) -> dict[str, Any]:
    """codebook.json: the study design, its scales and exclusion rules, and every column."""
    import platform as _platform
    from importlib.metadata import version

    from django.utils import timezone

    scales = [
        {
            "key": s.key,
            "question": s.question,
            "min": s.min_value,
            "max": s.max_value,
            "low_anchor": s.low_anchor,
            "high_anchor": s.high_anchor,
            "applies_to": s.applies_to,
        }
        for s in study.scales.order_by("order", "pk")
    ]
    return {
        "study": {
            "slug": study.slug,
            "title": study.title,
            "status": study.status,
            "ratings_per_item": study.ratings_per_item,
            "items_per_participant": study.items_per_participant,
            "attention_check_interval": study.attention_check_interval,
            "one_response_per_prompt": study.one_response_per_prompt,
            "random_seed": study.random_seed,
            "consent_declines": study.consent_declines,
        },
        "scales": scales,
        "exclusion_rules": study.exclusion_rules,
        "files": COLUMN_DESCRIPTIONS,
        "generated_at": timezone.now().isoformat(),
        "software": {
            "python": _platform.python_version(),
            **{pkg: version(pkg) for pkg in ("django", "pandas", "numpy", "scipy", "statsmodels")},
        },
    }


def study_frames(study: Study) -> dict[str, pd.DataFrame]:
    """ratings, comparisons and responses of ``study`` as DataFrames (same rows as the CSVs)."""
    verdicts = participant_verdicts(study)
    return {
        "ratings": pd.DataFrame.from_records(list(_rating_rows(study, verdicts)), columns=list(RATINGS_COLUMNS)),
        "comparisons": pd.DataFrame.from_records(
            list(_comparison_rows(study, verdicts)), columns=list(COMPARISONS_COLUMNS)
        ),
        "responses": responses_frame(study),
    }
