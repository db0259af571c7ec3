"""How often each scale value was given, per model: the data behind the distribution figure.

The ``analyze`` result carries means and intervals but not the counts per value, so this pure
function computes them from the same (already filtered) ratings frame. ``report_for_study``
adds its output to the result as ``distributions``; ``run_analysis`` could do the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def rating_distributions(
    ratings: pd.DataFrame,
    *,
    scale_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Counts per scale × model × value over rows with a model (pair-scale rows have none).

    ``scale_ranges`` (``{scale: (min, max)}``, from the study's scales) fixes the value axis,
    so a value nobody chose still appears with a count of 0; otherwise the observed range is
    used. Returns ``{"scales": [{"scale", "values": [...], "models": [{"model", "n",
    "counts": [...]}]}]}``, scales and models sorted by name.
    """
    needed = {"model", "scale", "value"}
    if ratings.empty or not needed <= set(ratings.columns):
        return {"scales": []}
    frame = ratings.dropna(subset=["model", "value"]).copy()
    if "attention_check" in frame:
        frame = frame[pd.to_numeric(frame["attention_check"], errors="coerce").fillna(0) == 0]
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.dropna(subset=["value"])
    scales = []
    for scale, part in frame.groupby(frame["scale"].astype(str), sort=True):
        low, high = (scale_ranges or {}).get(scale, (part["value"].min(), part["value"].max()))
        low, high = min(int(low), int(part["value"].min())), max(int(high), int(part["value"].max()))
        values = list(range(low, high + 1))
        models = []
        for model, group in part.groupby(part["model"].astype(str), sort=True):
            counts = group["value"].round().astype(int).value_counts()
            models.append(
                {
                    "model": model,
                    "n": len(group),
                    "counts": [int(counts.get(v, 0)) for v in values],
                }
            )
        scales.append({"scale": scale, "values": values, "models": models})
    return {"scales": scales}
