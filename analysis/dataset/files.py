"""The tidy files of the house plan, and the frames with the same rows.

Writers stream the row generators of ``rows`` into CSV (to disk, or as text for an HTTP
response) so that an export never holds a whole file in memory; ``export_study`` writes the
five files, ``study_frames`` gives the analysis the same rows as DataFrames.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from studies.models import Study

from .columns import COMPARISONS_COLUMNS, PARTICIPANTS_COLUMNS, RATINGS_COLUMNS, RESPONSES_COLUMNS
from .descriptions import codebook
from .rows import (
    _comparison_rows,
    _participant_rows,
    _rating_rows,
    _response_rows,
    participant_verdicts,
    responses_frame,
)


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
