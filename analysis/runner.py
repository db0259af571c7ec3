"""Where an analysis gets its frames: a study in the database or tidy CSV files.

Kept apart from analysis.pipeline (pure) so that the CLI, admin and API share one entry point
per source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .pipeline import AnalysisInputError, run_analysis


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise AnalysisInputError(f"{path}: cannot read {what}: {exc}") from exc


def analyze_csv(
    ratings: Path,
    *,
    comparisons: Path | None = None,
    responses: Path | None = None,
    seed: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    frame = _read_csv(ratings, "ratings")
    return run_analysis(
        frame,
        comparisons=_read_csv(comparisons, "comparisons") if comparisons else None,
        responses=_read_csv(responses, "responses") if responses else None,
        seed=0 if seed is None else seed,
        **options,
    )


def analyze_study(slug: str, *, seed: int | None = None, **options: Any) -> dict[str, Any]:
    from studies.models import Study

    from . import dataset

    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise LookupError(f"no study with slug {slug!r}")
    frames = dataset.study_frames(study)
    if frames["ratings"].empty:
        raise AnalysisInputError(f"study {slug!r} has no ratings yet")
    return run_analysis(
        frames["ratings"],
        comparisons=frames["comparisons"],
        responses=frames["responses"],
        flow=dataset.study_flow(study),
        seed=study.random_seed if seed is None else seed,
        study={"slug": study.slug, "title": study.title, "status": study.status},
        **options,
    )
