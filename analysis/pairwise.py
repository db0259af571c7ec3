"""A/B preferences: Bradley–Terry strengths, position bias, agreement with the ORR ranking.

Input: ``comparisons.csv`` rows ``participant, item, model_a, model_b, shown_left, choice`` with
``shown_left`` ∈ {a, b} (which response was shown on the left) and ``choice`` ∈ {a, b, tie}.
Exclusions are the caller's business (``analyze`` drops ``excluded=1`` rows first).

Bradley–Terry: P(i beats j) = π_i / (π_i + π_j), fitted by Hunter's (2004) MM algorithm. Only
ratios are identified, so we fix the scale by centring: Σ log π_i = 0 (geometric mean strength
1), and a model's ``log_strength`` reads as log-odds of beating an "average" model. Ties count
as half a win for each side (``ties="half"``) or are dropped (``ties="exclude"``); both are
reported because they answer slightly different questions. The maximum-likelihood estimate exists
only when every model has beaten, and been beaten by, the rest through some chain of wins
(Ford 1957); when not (e.g. a model that lost every comparison), strengths are reported as
undefined with ``identifiable=False`` rather than as an arbitrary large number.

Confidence intervals come from a percentile bootstrap over *participants* (each participant's
comparisons are resampled together, since they share a rater), seeded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .metrics import frame_to_records, to_jsonable, wilson_interval

TIES = ("half", "exclude")


def _validated(comparisons: pd.DataFrame) -> pd.DataFrame:
    needed = {"participant", "model_a", "model_b", "shown_left", "choice"}
    missing = needed - set(comparisons.columns)
    if missing:
        raise ValueError(f"comparisons frame lacks columns {sorted(missing)}")
    frame = comparisons.copy()
    frame["choice"] = frame["choice"].astype(str).str.strip().str.lower()
    frame["shown_left"] = frame["shown_left"].astype(str).str.strip().str.lower()
    if not frame["choice"].isin(["a", "b", "tie"]).all():
        raise ValueError("choice must be a, b or tie")
    if not frame["shown_left"].isin(["a", "b"]).all():
        raise ValueError("shown_left must be a or b")
    if (frame["model_a"] == frame["model_b"]).any():
        raise ValueError("a comparison needs two different models")
    return frame


def _tallies(frame: pd.DataFrame, models: list[str], ties: str) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j]: wins of i over j (ties as 0.5 each when ties='half'); and the tie counts."""
    index = {m: k for k, m in enumerate(models)}
    a = frame["model_a"].map(index).to_numpy()
    b = frame["model_b"].map(index).to_numpy()
    choice = frame["choice"].to_numpy()
    wins = np.zeros((len(models), len(models)))
    tie_counts = np.zeros_like(wins)
    np.add.at(wins, (a[choice == "a"], b[choice == "a"]), 1.0)
    np.add.at(wins, (b[choice == "b"], a[choice == "b"]), 1.0)
    is_tie = choice == "tie"
    np.add.at(tie_counts, (a[is_tie], b[is_tie]), 1.0)
    np.add.at(tie_counts, (b[is_tie], a[is_tie]), 1.0)
    if ties == "half":
        wins = wins + tie_counts / 2
    return wins, tie_counts


def _strongly_connected(wins: np.ndarray) -> bool:
    """Ford's condition: every model reaches every other along "has beaten" edges."""
    beats = wins > 0

    def reach(adjacency: np.ndarray) -> set[int]:
        seen, stack = {0}, [0]
        while stack:
            for j in np.flatnonzero(adjacency[stack.pop()]):
                if j not in seen:
                    seen.add(int(j))
                    stack.append(int(j))
        return seen

    n = len(wins)
    return len(reach(beats)) == n and len(reach(beats.T)) == n


def fit_bradley_terry(
    wins: np.ndarray, *, max_iter: int = 10_000, tol: float = 1e-10
) -> tuple[np.ndarray, bool, int]:
    """Centred log-strengths from a wins matrix by MM; (log_strengths, converged, iterations).

    Each step sets π_i ← W_i / Σ_j n_ij / (π_i + π_j) (Hunter 2004), which increases the
    likelihood monotonically; we stop when no log-strength moves by more than ``tol``.
    Returns NaNs (and converged=False) when the MLE does not exist.
    """
    n_models = len(wins)
    if n_models < 2 or not _strongly_connected(wins):
        return np.full(n_models, np.nan), False, 0
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    log_p = np.zeros(n_models)
    for iteration in range(1, max_iter + 1):
        p = np.exp(log_p)
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.log(total_wins / denom)
        new -= new.mean()
        if np.max(np.abs(new - log_p)) < tol:
            return new, True, iteration
        log_p = new
    return log_p, False, max_iter


def bradley_terry(
    comparisons: pd.DataFrame,
    *,
    ties: str = "half",
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Bradley–Terry strengths per model, best first.

    Columns: ``model, log_strength`` (centred: they sum to 0), ``strength`` (exp of it),
    ``wins, losses, ties, n`` (raw counts, ties never in wins), ``rank`` (1 = most preferred),
    ``identifiable, converged``, and with ``n_boot > 0`` the participant-bootstrap
    ``ci_low, ci_high`` of ``log_strength`` and ``n_boot_valid`` (replicates where the MLE
    existed and the model appeared).
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}")
    frame = _validated(comparisons)
    models = sorted(set(frame["model_a"]) | set(frame["model_b"]))
    wins, _ = _tallies(frame, models, ties)
    log_p, converged, _ = fit_bradley_terry(wins)
    raw_wins, raw_ties = _tallies(frame, models, "exclude")  # counts as observed, for the table
    table = pd.DataFrame(
        {
            "model": models,
            "log_strength": log_p,
            "strength": np.exp(log_p),
            "wins": raw_wins.sum(axis=1).astype(int),
            "losses": raw_wins.sum(axis=0).astype(int),
            "ties": raw_ties.sum(axis=1).astype(int),
        }
    )
    table["n"] = table["wins"] + table["losses"] + table["ties"]
    table["rank"] = table["log_strength"].rank(ascending=False, method="min").astype("Int64")
    table["identifiable"] = not np.isnan(log_p).any()
    table["converged"] = converged
    if n_boot > 0:
        boots = bootstrap_bradley_terry(frame, models=models, ties=ties, n_boot=n_boot, seed=seed)
        table["n_boot_valid"] = (~np.isnan(boots)).sum(axis=0)
        table["ci_low"], table["ci_high"] = _percentile_ci(boots, confidence)
    return table.sort_values(["rank", "model"], na_position="last").reset_index(drop=True)


def _percentile_ci(boots: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise percentile interval over the non-NaN replicates (NaN if there are none)."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.full(boots.shape[1], np.nan), np.full(boots.shape[1], np.nan)
    for col in range(boots.shape[1]):
        valid = boots[~np.isnan(boots[:, col]), col]
        if len(valid):
            low[col], high[col] = np.percentile(valid, [tail, 100 - tail])
    return low, high


def bootstrap_bradley_terry(
    comparisons: pd.DataFrame,
    *,
    models: list[str],
    ties: str = "half",
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """(n_boot, len(models)) centred log-strengths refitted on participant resamples.

    A replicate is NaN where the MLE does not exist in it. A model missing from a replicate
    is NaN too, and the others are centred among themselves.
    """
    frame = _validated(comparisons)
    # Tally each participant once; a replicate's tallies are then a weighted sum of them.
    participants = sorted(frame["participant"].unique())
    per_wins = np.zeros((len(participants), len(models), len(models)))
    per_games = np.zeros_like(per_wins)
    for k, (_, group) in enumerate(frame.groupby("participant", sort=True)):
        per_wins[k], tie_counts = _tallies(group, models, ties)
        per_games[k] = per_wins[k] + per_wins[k].T + (tie_counts if ties == "exclude" else 0)
    rng = np.random.default_rng(seed)
    out = np.full((n_boot, len(models)), np.nan)
    for b in range(n_boot):
        weights = np.bincount(
            rng.integers(0, len(participants), len(participants)), minlength=len(participants)
        )
        wins = np.einsum("p,pij->ij", weights, per_wins)
        present = np.flatnonzero(np.einsum("p,pij->i", weights, per_games) > 0)
        out[b, present], _, _ = fit_bradley_terry(wins[np.ix_(present, present)])
    return out


def position_bias(comparisons: pd.DataFrame, *, confidence: float = 0.95) -> dict[str, Any]:
    """Share of non-tie choices that went to the response shown on the left.

    0.5 means no position bias. ``{share_left, ci_low, ci_high, k, n, n_ties, p}`` with a
    Wilson CI and an exact two-sided binomial test against 0.5; ``share_left`` is None when
    there are no non-tie choices.
    """
    from scipy.stats import binomtest

    frame = _validated(comparisons)
    decided = frame[frame["choice"] != "tie"]
    k, n = int((decided["choice"] == decided["shown_left"]).sum()), len(decided)
    low, high = wilson_interval(k, n, confidence=confidence)
    return to_jsonable(
        {
            "share_left": k / n if n else math.nan,
            "ci_low": low,
            "ci_high": high,
            "k": k,
            "n": n,
            "n_ties": int(len(frame) - n),
            "p": binomtest(k, n, 0.5).pvalue if n else math.nan,
        }
    )


def ranking_agreement(
    log_strength: Mapping[str, float], orr: Mapping[str, float | None]
) -> dict[str, Any]:
    """Kendall's τ-b between the human BT ranking and the automated ORR ranking.

    Lower ORR counts as better, so τ is computed between ``log_strength`` and ``-ORR``: τ = 1
    means people prefer models exactly in order of increasing over-refusal. Only models with both
    numbers count (``n``); τ is None with fewer than two, or when either ranking is all ties.
    """
    from scipy.stats import kendalltau

    models = sorted(
        m
        for m in log_strength
        if m in orr
        and orr[m] is not None
        and not math.isnan(orr[m])
        and not math.isnan(log_strength[m])
    )
    result: dict[str, Any] = {
        "tau": None,
        "p": None,
        "n": len(models),
        "models": models,
        "orientation": "log_strength vs -ORR (lower ORR = better)",
    }
    if len(models) >= 2:
        fit = kendalltau([log_strength[m] for m in models], [-float(orr[m]) for m in models])
        result["tau"], result["p"] = to_jsonable(fit.statistic), to_jsonable(fit.pvalue)
    return result


def pairwise_summary(
    comparisons: pd.DataFrame,
    *,
    model_orr: Mapping[str, float | None] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The ``pairwise`` object of ``analyze --format json`` (NaN → null)."""
    half = bradley_terry(comparisons, ties="half", n_boot=n_boot, seed=seed, confidence=confidence)
    exclude = bradley_terry(
        comparisons, ties="exclude", n_boot=n_boot, seed=seed, confidence=confidence
    )
    summary: dict[str, Any] = {
        "n_comparisons": len(comparisons),
        "n_participants": int(comparisons["participant"].nunique()),
        "bootstrap": {
            "unit": "participant",
            "n_boot": n_boot,
            "seed": seed,
            "confidence": confidence,
        },
        "bradley_terry": {
            "ties_half": frame_to_records(half),
            "ties_excluded": frame_to_records(exclude),
        },
        "position_bias": position_bias(comparisons, confidence=confidence),
        "ranking_agreement": None,
    }
    if model_orr is not None:
        summary["ranking_agreement"] = ranking_agreement(
            dict(zip(half["model"], half["log_strength"], strict=True)), model_orr
        )
    return summary
