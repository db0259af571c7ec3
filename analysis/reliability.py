"""Inter-rater reliability per scale: Krippendorff's α with a bootstrap CI, and the ICC.

Input: a long frame with one row per rating, columns ``participant, item, scale, value``
(ratings.csv; extra columns are ignored, rows with a missing value are dropped). A participant
rates an item at most once per scale.

Krippendorff's α (ordinal by default, since ratings are Likert) copes with the crossed,
incomplete design of a crowd study: every item needs only two ratings. Its confidence interval
is a percentile bootstrap over *items* (units), seeded so that a report can be reproduced.

The ICC (via ``pingouin.intraclass_corr``) needs a fully crossed, complete design — every rater
rates every item. We look for the largest such block inside the data; when there is none of a
useful size the ICC is reported as not possible, with the reason, instead of failing or quietly
dropping most of the data.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _long(ratings: pd.DataFrame) -> pd.DataFrame:
    missing = {"participant", "item", "scale", "value"} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings frame lacks columns {sorted(missing)}")
    frame = ratings[["participant", "item", "scale", "value"]].copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="raise")
    frame = frame.dropna(subset=["value"])
    dupes = frame.duplicated(["participant", "item", "scale"])
    if dupes.any():
        first = frame[dupes].iloc[0]
        raise ValueError(
            f"{int(dupes.sum())} repeated ratings, e.g. participant {first.participant!r} rated "
            f"item {first.item!r} twice on {first.scale!r}"
        )
    return frame


# -- Krippendorff's alpha --------------------------------------------------------------------
def value_counts(ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Items × values count matrix of one scale's ratings, and the sorted value domain.

    Only *pairable* items (rated at least twice) are kept: the others carry no information
    about agreement and would only dilute the bootstrap.
    """
    frame = _long(ratings)
    table = pd.crosstab(frame["item"], frame["value"])
    table = table[table.sum(axis=1) >= 2]
    return table.to_numpy(dtype=float), table.columns.to_numpy(dtype=float)


def _distances(domain: np.ndarray, n_v: np.ndarray, level: str) -> np.ndarray:
    """δ² between domain values, shape (..., V, V); ordinal depends on the marginals n_v."""
    c, k = np.meshgrid(domain, domain, indexing="ij")
    if level == "nominal":
        return np.broadcast_to((c != k).astype(float), (*n_v.shape[:-1], *c.shape))
    if level == "interval":
        return np.broadcast_to((c - k) ** 2, (*n_v.shape[:-1], *c.shape))
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.nan_to_num(((c - k) / (c + k)) ** 2)
        return np.broadcast_to(d, (*n_v.shape[:-1], *c.shape))
    # ordinal (Krippendorff 2011): (sum of n_g for g from c to k - (n_c + n_k) / 2)²
    cum = np.cumsum(n_v, axis=-1)
    lo = np.minimum.outer(np.arange(len(domain)), np.arange(len(domain)))
    hi = np.maximum.outer(np.arange(len(domain)), np.arange(len(domain)))
    span = cum[..., hi] - cum[..., lo] + (n_v[..., lo] - n_v[..., hi]) / 2
    return span**2


def alpha_from_counts(
    counts: np.ndarray,
    domain: np.ndarray,
    *,
    level: str = "ordinal",
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """α for each row of ``weights`` (how often each item is drawn; default: once each).

    The same computation as the ``krippendorff`` package (coincidence matrix o, expected
    coincidences e, α = 1 − Σoδ² / Σeδ²), vectorised over bootstrap replicates: each item's
    coincidences are computed once and a replicate is a weighted sum of them. NaN where α is
    undefined (fewer than two distinct values in the replicate).
    """
    eye = np.eye(len(domain))
    # an item's coincidences: value pairs from different raters, each weighted 1 / (m_i - 1)
    m = counts.sum(axis=1)[:, None, None]
    per_item = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * eye) / (m - 1)
    weights = np.ones((1, len(counts))) if weights is None else np.atleast_2d(weights)
    o = np.einsum("bi,ivw->bvw", weights, per_item)
    n_v = o.sum(axis=2)
    n = n_v.sum(axis=1)[:, None, None]
    e = (n_v[:, :, None] * n_v[:, None, :] - n_v[:, :, None] * eye) / (n - 1)
    d = _distances(domain, n_v, level)
    observed, expected = (o * d).sum(axis=(1, 2)), (e * d).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, 1 - observed / expected, np.nan)


def bootstrap_alpha(
    counts: np.ndarray,
    domain: np.ndarray,
    *,
    level: str = "ordinal",
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """``n_boot`` α replicates from resampling items with replacement (NaN = undefined)."""
    rng = np.random.default_rng(seed)
    n_items = len(counts)
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n_items, 1))  # bound the replicate × item weight matrix
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_items, size=(size, n_items))
        weights = np.zeros((size, n_items))
        np.add.at(weights, (np.repeat(np.arange(size), n_items), draws.ravel()), 1)
        out[start : start + size] = alpha_from_counts(counts, domain, level=level, weights=weights)
    return out


def krippendorff_alpha(
    ratings: pd.DataFrame,
    *,
    level: str = "ordinal",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Krippendorff's α per scale with a percentile bootstrap CI over items.

    Columns: ``scale, level, alpha, ci_low, ci_high, n_items`` (pairable items), ``n_raters``,
    ``n_values`` (ratings on pairable items), ``n_boot, n_boot_valid`` (replicates where α was
    defined), ``seed, note``. The point estimate comes from the ``krippendorff`` package.
    """
    import krippendorff

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    frame = _long(ratings)
    rows = []
    for scale, part in frame.groupby("scale", sort=True):
        counts, domain = value_counts(part)
        row: dict[str, Any] = {
            "scale": scale,
            "level": level,
            "alpha": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "n_items": len(counts),
            "n_raters": part["participant"].nunique(),
            "n_values": int(counts.sum()),
            "n_boot": n_boot,
            "n_boot_valid": 0,
            "seed": seed,
            "note": "",
        }
        if len(counts) == 0:
            row["note"] = "no item was rated by two or more participants"
        elif len(domain) < 2:
            row["note"] = "every rating has the same value: alpha is undefined"
        else:
            row["alpha"] = float(
                krippendorff.alpha(
                    value_counts=counts, value_domain=domain, level_of_measurement=level
                )
            )
            boots = bootstrap_alpha(counts, domain, level=level, n_boot=n_boot, seed=seed)
            valid = boots[~np.isnan(boots)]
            row["n_boot_valid"] = len(valid)
            if len(valid):
                tail = 100 * (1 - confidence) / 2
                row["ci_low"], row["ci_high"] = np.percentile(valid, [tail, 100 - tail])
            if len(counts) < 10:
                row["note"] = "fewer than 10 pairable items: the bootstrap CI is unreliable"
        rows.append(row)
    return pd.DataFrame(rows)


# -- ICC --------------------------------------------------------------------------------------
def complete_block(ratings: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """A large fully crossed block ``(participants, items)`` of one scale's ratings.

    Two candidates, the larger (in cells) wins: the biggest group of participants who rated
    exactly the same items (the usual block design), and greedy pruning of the rater × item
    matrix, dropping the row or column with the largest share missing until none is missing.
    Finding the largest complete block is NP-hard in general; these cover the designs we use.
    """
    frame = _long(ratings)
    present = pd.crosstab(frame["participant"], frame["item"]) > 0
    candidates = []
    item_sets = present.apply(lambda row: frozenset(present.columns[row.to_numpy()]), axis=1)
    for items, members in item_sets.groupby(item_sets):
        candidates.append((sorted(members.index), sorted(items)))
    # Greedy pruning on counts kept up to date incrementally (O(rows + columns) a step): the
    # same choices as recomputing the missing shares each step, without re-scanning the matrix.
    cells = present.to_numpy()
    rows = np.ones(cells.shape[0], dtype=bool)
    cols = np.ones(cells.shape[1], dtype=bool)
    row_count = cells.sum(axis=1).astype(float)
    col_count = cells.sum(axis=0).astype(float)
    while rows.any() and cols.any():
        n_cols, n_rows = cols.sum(), rows.sum()
        row_missing = np.where(rows, 1 - row_count / n_cols, -np.inf)
        col_missing = np.where(cols, 1 - col_count / n_rows, -np.inf)
        if row_missing.max() <= 0 and col_missing.max() <= 0:
            break
        if row_missing.max() >= col_missing.max():
            r = int(np.argmax(row_missing))
            rows[r] = False
            col_count -= cells[r]
        else:
            c = int(np.argmax(col_missing))
            cols[c] = False
            row_count -= cells[:, c]
    matrix = present.loc[rows, cols] if rows.any() and cols.any() else present.iloc[:0, :0]
    candidates.append((list(matrix.index), list(matrix.columns)))
    return max(candidates, key=lambda c: (len(c[0]) * len(c[1]), len(c[0])))


def icc(ratings: pd.DataFrame, *, min_raters: int = 2, min_items: int = 5) -> list[dict[str, Any]]:
    """ICC estimates per scale on the largest fully crossed complete block.

    One dict per scale: ``scale, status`` (``ok`` | ``not_possible``), ``reason``, ``design``
    (``complete`` when all ratings were used, ``subset`` otherwise), ``n_raters, n_items,
    share_used`` (of that scale's ratings) and ``estimates``: pingouin's six ICCs (``ICC(1,1)``,
    ``ICC(A,1)``, ``ICC(C,1)`` and their ``k`` versions) with F test and 95 % CI. Likert ratings
    are treated as interval here, unlike the ordinal α.
    """
    import pingouin

    frame = _long(ratings)
    results = []
    for scale, part in frame.groupby("scale", sort=True):
        raters, items = complete_block(part)
        block = part[part["participant"].isin(raters) & part["item"].isin(items)]
        result: dict[str, Any] = {
            "scale": scale,
            "status": "not_possible",
            "reason": "",
            "n_raters": len(raters),
            "n_items": len(items),
            "share_used": len(block) / len(part) if len(part) else 0.0,
            "design": "complete" if len(block) == len(part) else "subset",
            "estimates": [],
        }
        if len(raters) < min_raters or len(items) < min_items:
            result["reason"] = (
                f"the ICC needs every rater to rate every item; the largest fully crossed block "
                f"has {len(raters)} participant(s) x {len(items)} item(s), fewer than "
                f"{min_raters} x {min_items} (use Krippendorff's alpha for this design)"
            )
        elif block["value"].nunique() < 2:
            result["reason"] = "every rating in the fully crossed block has the same value"
        else:
            saved = pingouin.options.get("round.column.CI95")
            pingouin.options["round.column.CI95"] = None  # pingouin rounds CIs to 2 decimals
            try:
                with warnings.catch_warnings():
                    # pingouin 0.7 still passes inplace= to pandas 3 (a deprecation, not ours)
                    warnings.filterwarnings("ignore", message="The inplace keyword")
                    table = pingouin.intraclass_corr(
                        data=block, targets="item", raters="participant", ratings="value"
                    )
            finally:
                pingouin.options["round.column.CI95"] = saved
            result["status"] = "ok"
            result["estimates"] = [
                {
                    "type": r.Type,
                    "icc": float(r.ICC),
                    "f": float(r.F),
                    "df1": float(r.df1),
                    "df2": float(r.df2),
                    "p": float(r.pval),
                    "ci_low": float(r.CI95[0]),
                    "ci_high": float(r.CI95[1]),
                }
                for r in table.itertuples(index=False)
            ]
        results.append(result)
    return results


def reliability_report(
    ratings: pd.DataFrame, *, level: str = "ordinal", n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The ``reliability`` object of ``analyze --format json`` (NaN → null)."""
    from .metrics import frame_to_records, to_jsonable

    alphas = frame_to_records(krippendorff_alpha(ratings, level=level, n_boot=n_boot, seed=seed))
    iccs = {r["scale"]: r for r in icc(ratings)}
    scales = [{**a, "icc": to_jsonable(iccs.get(a["scale"]))} for a in alphas]
    return {"level": level, "n_boot": n_boot, "seed": seed, "bootstrap": "items", "scales": scales}
