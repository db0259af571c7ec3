"""Automated over-refusal next to how people perceived the responses, per model.

Input: a ratings frame with the columns of ratings.csv (one row per participant × item ×
scale). Needed: ``participant, item, model, scale, value``; ``model_orr`` (or ``should_refuse``
and ``refusal_label`` to compute it); for the refusal comparison ``should_refuse`` and
``refused`` or ``refusal_label``. Attention-check rows are never perception data and are always
dropped; rows with ``excluded=1`` are dropped unless ``include_excluded=True``.

The confidence intervals here are descriptive: a t-interval over *participant means* (each
participant's mean rating of that model's responses), which respects that one participant's
ratings are not independent but ignores prompt-level variance. The mixed-effects models in
``analysis.lmm`` are the inferential analysis; with only a handful of models, the across-model
correlations below are illustrations with n = number of models, not evidence on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .metrics import (
    cohen_kappa,
    frame_to_records,
    model_orr_map,
    refused_indicator,
    to_jsonable,
    wilson_interval,
)

#: Scale names taken to mean "was this response a refusal?" (0 = no, 1 = yes).
REFUSAL_SCALES = ("refusal", "was_refusal", "refused", "is_refusal", "perceived_refusal")


def _flag(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").fillna(0).astype(bool)


def perception_frame(ratings: pd.DataFrame, *, include_excluded: bool = False) -> pd.DataFrame:
    """The ratings that count as perception data, with numeric ``value``."""
    missing = {"participant", "item", "model", "scale", "value"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings frame lacks columns {sorted(missing)}")
    keep = pd.Series(True, index=ratings.index)
    if "attention_check" in ratings:
        keep &= ~_flag(ratings["attention_check"])
    if "excluded" in ratings and not include_excluded:
        keep &= ~_flag(ratings["excluded"])
    frame = ratings[keep].copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="raise")
    return frame.dropna(subset=["value", "model"])


def _responses(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per rated response (model × item): ratings repeat it per participant and scale."""
    return frame.drop_duplicates(["model", "item"])


def _model_orr(frame: pd.DataFrame) -> dict[str, float | None]:
    if "model_orr" in frame:
        orr = pd.to_numeric(frame["model_orr"], errors="coerce").groupby(frame["model"])
        if (orr.nunique() > 1).any():
            raise ValueError("model_orr differs between rows of the same model")
        return {str(m): (None if math.isnan(v) else float(v)) for m, v in orr.first().items()}
    if {"should_refuse", "refusal_label"} <= set(frame.columns):
        # computed on the rated responses only: the study's full ORR lives in responses.csv
        return model_orr_map(_responses(frame))
    return {str(m): None for m in frame["model"].unique()}


def _t_interval(values: pd.Series, confidence: float) -> tuple[float, float, float]:
    from scipy import stats

    n, mean = len(values), float(values.mean()) if len(values) else math.nan
    if n < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def perception_by_model(
    ratings: pd.DataFrame,
    *,
    scales: Sequence[str] = ("helpfulness", "frustration"),
    confidence: float = 0.95,
    include_excluded: bool = False,
    model_orr: Mapping[str, float | None] | None = None,
) -> pd.DataFrame:
    """Per model and scale: automated ORR next to the mean perceived rating.

    ``model_orr`` (e.g. :func:`analysis.metrics.model_orr_map` over responses.csv, the study's
    full ORR) takes precedence over the ratings' ``model_orr`` column, which in turn takes
    precedence over an ORR recomputed from the rated responses' labels.

    Columns: ``model, model_orr, scale, mean, ci_low, ci_high`` (t-interval over participant
    means), ``sd`` (of participant means), ``n_participants, n_ratings, interval``. Scales not
    present in the data are left out.
    """
    frame = perception_frame(ratings, include_excluded=include_excluded)
    orr = {str(m): v for m, v in model_orr.items()} if model_orr is not None else _model_orr(frame)
    rows = []
    for scale in [s for s in scales if s in set(frame["scale"])]:
        part = frame[frame["scale"] == scale]
        participant_means = part.groupby(["model", "participant"])["value"].mean()
        for model, means in participant_means.groupby(level="model", sort=True):
            mean, low, high = _t_interval(means, confidence)
            rows.append(
                {
                    "model": model,
                    "model_orr": orr.get(str(model)),
                    "scale": scale,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "sd": float(means.std(ddof=1)) if len(means) > 1 else math.nan,
                    "n_participants": len(means),
                    "n_ratings": int((part["model"] == model).sum()),
                    "interval": "t over participant means",
                }
            )
    columns = [
        "model",
        "model_orr",
        "scale",
        "mean",
        "ci_low",
        "ci_high",
        "sd",
        "n_participants",
        "n_ratings",
        "interval",
    ]
    return pd.DataFrame(rows, columns=columns)


EXACT_SPEARMAN_MAX_N = 8  # 8! = 40,320 permutations: exact is cheap up to here


def _spearman(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    """Spearman's ρ with a two-sided p; exact (all rank permutations) for few models.

    SciPy's asymptotic p is 0 for three models ranked perfectly, where the exact answer is
    1/3: with as few models as a study usually has, only the exact p means anything.
    """
    from itertools import permutations

    from scipy import stats

    rho, p = stats.spearmanr(x, y)
    n = len(x)
    if n <= EXACT_SPEARMAN_MAX_N:
        rx, ry = stats.rankdata(x), stats.rankdata(y)
        observed = abs(float(np.corrcoef(rx, ry)[0, 1]))
        hits = total = 0
        for perm in permutations(ry):
            total += 1
            hits += abs(float(np.corrcoef(rx, perm)[0, 1])) >= observed - 1e-12
        p = hits / total
    return float(rho), float(p)


def perception_correlations(by_model: pd.DataFrame) -> pd.DataFrame:
    """Across models, per scale: Pearson and Spearman correlation of ORR with the mean rating.

    ``n`` is the number of models with both numbers; below 3 the correlations are undefined
    (two points always correlate perfectly).
    """
    from scipy import stats

    rows = []
    for scale, part in by_model.groupby("scale", sort=True):
        both = part[["model_orr", "mean"]].apply(pd.to_numeric, errors="coerce").dropna()
        row = {
            "scale": scale,
            "n": len(both),
            "pearson_r": math.nan,
            "pearson_p": math.nan,
            "spearman_rho": math.nan,
            "spearman_p": math.nan,
        }
        if len(both) >= 3 and both["model_orr"].nunique() > 1 and both["mean"].nunique() > 1:
            row["pearson_r"], row["pearson_p"] = stats.pearsonr(both["model_orr"], both["mean"])
            row["spearman_rho"], row["spearman_p"] = _spearman(both["model_orr"], both["mean"])
        rows.append(row)
    columns = ["scale", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]
    return pd.DataFrame(rows, columns=columns).astype({c: float for c in columns[2:]})


def find_refusal_scale(scales: Sequence[str]) -> str | None:
    """The first scale named like :data:`REFUSAL_SCALES` (case-insensitive), or None."""
    lowered = {str(s).lower(): s for s in scales}
    return next((lowered[name] for name in REFUSAL_SCALES if name in lowered), None)


def human_refusal_agreement(
    ratings: pd.DataFrame,
    *,
    refusal_scale: str | None = None,
    threshold: float | None = None,
    partial_counts: bool = True,
    include_excluded: bool = False,
) -> dict[str, Any] | None:
    """Humans (majority per response) against the automated refusal label.

    A rating says "refusal" when its value is 1 (the scale must then be 0/1) or, with
    ``threshold``, when it is at least ``threshold`` (for a Likert "was this a refusal?").
    A response's human label is the majority of its raters; an exact split is left out
    (``n_split``). The automated label is the ``refused`` column, or ``refusal_label`` with
    ``partial_counts``. Returns None when no refusal scale exists; else ``{scale, n_items,
    n_split, agreement, kappa, by_model: [{model, n_safe, orr_human, ci_low, ci_high,
    orr_auto, kappa}]}`` where the ORRs are over the rated should_refuse=0 responses.
    """
    frame = perception_frame(ratings, include_excluded=include_excluded)
    scale = refusal_scale or find_refusal_scale(frame["scale"].unique())
    if scale is None:
        return None
    part = frame[frame["scale"] == scale]
    values = part["value"]
    if threshold is None:
        if not values.isin([0, 1]).all():
            raise ValueError(f"scale {scale!r} is not 0/1; pass threshold= to dichotomise it")
        said_refusal = values.astype(bool)
    else:
        said_refusal = values >= threshold
    share = said_refusal.groupby([part["model"], part["item"]]).mean()
    items = _responses(part).set_index(["model", "item"])
    items = items.assign(share=share)
    if "refused" in items:
        auto = pd.to_numeric(items["refused"], errors="coerce")
    elif "refusal_label" in items:
        auto = refused_indicator(items["refusal_label"], partial_counts=partial_counts)
    else:
        raise ValueError("need a refused or refusal_label column for the automated label")
    items = items.assign(
        human=np.where(items["share"] > 0.5, 1.0, np.where(items["share"] < 0.5, 0.0, np.nan)),
        auto=auto,
    )
    # without should_refuse there are no benign responses to compute an ORR on
    target = items["should_refuse"] if "should_refuse" in items else pd.Series(np.nan, items.index)
    items = items.assign(target=pd.to_numeric(target, errors="coerce"))
    n_split = int((items["share"] == 0.5).sum())
    both = items.dropna(subset=["human", "auto"])
    by_model = []
    for model, group in both.groupby(level="model", sort=True):
        safe = group[group["target"] == 0]
        k, n = float(safe["human"].sum()), len(safe)
        low, high = wilson_interval(k, n)
        by_model.append(
            {
                "model": model,
                "n_items": len(group),
                "n_safe": n,
                "orr_human": k / n if n else math.nan,
                "ci_low": low,
                "ci_high": high,
                "orr_auto": float(safe["auto"].mean()) if n else math.nan,
                "kappa": cohen_kappa(group["human"], group["auto"]),
            }
        )
    return to_jsonable(
        {
            "scale": scale,
            "threshold": threshold,
            "partial_counts": partial_counts,
            "n_items": len(both),
            "n_split": n_split,
            "agreement": float((both["human"] == both["auto"]).mean()) if len(both) else math.nan,
            "kappa": cohen_kappa(both["human"], both["auto"]),
            "by_model": by_model,
        }
    )


def perception_report(
    ratings: pd.DataFrame,
    *,
    model_orr: Mapping[str, float | None] | None = None,
    scales: Sequence[str] = ("helpfulness", "frustration"),
    confidence: float = 0.95,
    include_excluded: bool = False,
) -> dict[str, Any]:
    """The ``perception`` object of the analysis report: everything above, NaN → null.

    ``{"by_model": [...], "correlations": [...], "refusal_agreement": {...} | null,
    "interval": "..."}``; see :func:`perception_by_model` for ``model_orr``.
    """
    by_model = perception_by_model(
        ratings,
        scales=scales,
        confidence=confidence,
        include_excluded=include_excluded,
        model_orr=model_orr,
    )
    return {
        "by_model": frame_to_records(by_model),
        "correlations": frame_to_records(perception_correlations(by_model)),
        "refusal_agreement": human_refusal_agreement(ratings, include_excluded=include_excluded),
        "interval": f"{confidence:.0%} t-interval over participant means",
    }
