"""The one place in ``analysis/`` that reads the ORM: it builds the tidy frames and files.

Everything else in ``analysis/`` is a pure function of the DataFrames built here. Each tidy file
of the house plan has a column tuple, a row generator over one bounded query, a frame builder
and a streaming CSV writer; so far: ``responses.csv``.

The package is split by what each part answers: ``columns`` the order of every file's columns,
``rows`` the ORM queries that yield those rows (and the exclusion verdicts), ``files`` the CSV
files and frames built from them, ``flow`` the participant flow, ``descriptions`` what the
columns mean and ``codebook.json``. Import from the package itself (``from analysis.dataset
import export_study``); the submodules are its implementation.
"""

from __future__ import annotations

from .columns import COMPARISONS_COLUMNS, PARTICIPANTS_COLUMNS, RATINGS_COLUMNS, RESPONSES_COLUMNS
from .descriptions import COLUMN_DESCRIPTIONS, codebook
from .files import export_study, iter_ratings_csv, study_frames, write_responses_csv
from .flow import study_flow
from .rows import model_label, participant_verdicts, responses_frame

# The bounds live here, on the package, and participant_verdicts reads them at each call, so
# that setting ``analysis.dataset._EVIDENCE_ROWS`` (as a test does) changes the chunking.
_EVIDENCE_CHUNK = 2000  # participants judged at a time: memory stays bounded by this …
_EVIDENCE_ROWS = 100_000  # … and by their rating values (2,000 people × 500 values = 1M rows)

__all__ = [
    "COLUMN_DESCRIPTIONS",
    "COMPARISONS_COLUMNS",
    "PARTICIPANTS_COLUMNS",
    "RATINGS_COLUMNS",
    "RESPONSES_COLUMNS",
    "codebook",
    "export_study",
    "iter_ratings_csv",
    "model_label",
    "participant_verdicts",
    "responses_frame",
    "study_flow",
    "study_frames",
    "write_responses_csv",
]
