"""The one module of ``analysis/`` that reads the ORM: it builds the tidy frames and files.

Everything else in ``analysis/`` is a pure function of the DataFrames built here. Each tidy file
of the house plan has a column tuple, a row generator over one bounded query, a frame builder
and a streaming CSV writer; so far: ``responses.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

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

    ``refused`` is 1/0 and missing (``<NA>``) for an unlabelled response, ``refusal_label`` and
    ``labeller`` are None when blank, ``refusal_score`` NaN when unset.
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
