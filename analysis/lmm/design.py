"""Model frames: from a DataFrame and a :class:`ModelSpec` to y, X and grouping codes.

Mirrors what lme4's ``lFormula`` does before fitting: rows with NA in any used column are
dropped, unused factor levels are dropped, factors get treatment contrasts named
``<column><level>`` with the first sorted level as reference (a pandas Categorical keeps its
category order, like an R factor), logical columns become ``<column>TRUE``, and a rank-deficient
fixed-effect matrix loses its aliased columns with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import ModelSpec

__all__ = ["Design", "build_design"]


@dataclass
class Design:
    y: np.ndarray
    X: np.ndarray  # n x p, float64
    names: list[str]
    groups: dict[str, np.ndarray]  # grouping factor -> integer codes 0..q-1
    n_levels: dict[str, int]
    frame: pd.DataFrame  # the used rows (all columns), for checks and the fallback engine
    warnings: list[str] = field(default_factory=list)


def _is_factor(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _factor(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and level labels as R would print them (reference level first)."""
    if pd.api.types.is_bool_dtype(s):
        present = sorted(set(s.astype(bool)))
        labels = ["TRUE" if v else "FALSE" for v in present]
        codes = np.searchsorted(np.array(present), s.astype(bool).to_numpy())
        return codes, labels
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.cat.remove_unused_categories()
        return s.cat.codes.to_numpy(), [str(c) for c in s.cat.categories]
    codes, uniques = pd.factorize(s.astype(str), sort=True)
    return codes, [str(u) for u in uniques]


def _variable_columns(
    col: pd.Series, name: str, contrasts: bool
) -> tuple[list[np.ndarray], list[str]]:
    if not _is_factor(col):
        return [col.to_numpy(dtype=float)], [name]
    codes, labels = _factor(col)
    start = 1 if contrasts else 0
    cols = [(codes == k).astype(float) for k in range(start, len(labels))]
    return cols, [f"{name}{lab}" for lab in labels[start:]]


def _fixed_matrix(frame: pd.DataFrame, spec: ModelSpec) -> tuple[np.ndarray, list[str]]:
    n = len(frame)
    present = {frozenset(t) for t in spec.terms}
    if spec.intercept:
        present.add(frozenset())
    cols: list[np.ndarray] = [np.ones(n)] if spec.intercept else []
    names: list[str] = ["(Intercept)"] if spec.intercept else []
    for term in spec.terms:
        # R's rule: a factor in a term is coded by contrasts when the term without it is in
        # the model (its "margin" is estimated), otherwise by full indicators.
        parts = [
            _variable_columns(frame[v], v, frozenset(term) - {v} in present) for v in term
        ]
        if not spec.intercept and any(_is_factor(frame[v]) for v in term):
            # R: without an intercept only the first factor gets full indicators; from then
            # on the intercept's column space is spanned, so later factors use contrasts.
            present.add(frozenset())
        t_cols, t_names = parts[0]
        for p_cols, p_names in parts[1:]:
            # the first variable varies fastest, as in R's model.matrix
            t_cols = [a * b for b in p_cols for a in t_cols]
            t_names = [f"{a}:{b}" for b in p_names for a in t_names]
        cols += t_cols
        names += t_names
    X = np.column_stack(cols) if cols else np.empty((n, 0))
    return np.asarray(X, dtype=float), names


def _drop_aliased(X: np.ndarray, names: list[str], warnings: list[str]):
    """Drop columns that are linear combinations of earlier ones (lme4: rank-deficient X)."""
    if X.shape[1] == 0:
        return X, names
    keep: list[int] = []
    tol = 1e-7
    for j in range(X.shape[1]):
        trial = keep + [j]
        r = np.linalg.qr(X[:, trial], mode="r")
        norm = np.linalg.norm(X[:, j])
        if norm > 0 and abs(r[-1, -1]) > tol * norm:
            keep.append(j)
    if len(keep) < X.shape[1]:
        dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
        warnings.append(
            "fixed-effect model matrix is rank deficient so dropping "
            f"{len(dropped)} column(s): {', '.join(dropped)}"
        )
        X, names = X[:, keep], [names[j] for j in keep]
    return X, names


def _cluster_level_warnings(frame: pd.DataFrame, spec: ModelSpec) -> list[str]:
    """Warn about predictors that only vary between a handful of clusters.

    A predictor constant within each level of a column with few levels (model_orr within
    model) has as many independent values as that column has levels; without ``(1|model)`` its
    standard error counts every rating as independent evidence, which is anti-conservative.
    """
    out: list[str] = []
    grouped = {r.name for r in spec.random}
    predictors = []
    for term in spec.terms:
        predictors += [v for v in term if v not in predictors]
    small: dict[str, int] = {}
    for col in frame.columns:
        if col == spec.outcome:
            continue
        k = frame[col].nunique(dropna=True)
        if 2 <= k < 10:
            small[col] = k
    for x in predictors:
        # Binary predictors are skipped: a 0/1 recoding of a label column (refused within
        # refusal_label) would look "cluster-level" although it varies between observations.
        if _is_factor(frame[x]) or frame[x].nunique() < 3:
            continue
        hits = []
        for col, k in small.items():
            if col == x:
                continue
            # x is cluster-level when every level of col carries a single value of x
            if frame.groupby(col, observed=True)[x].nunique().max() <= 1:
                hits.append((col, k))
        if hits and not any(col in grouped for col, _ in hits):
            col, k = hits[0]
            out.append(
                f"'{x}' is constant within each level of '{col}' ({k} levels): its standard "
                f"error treats every rating as independent and is anti-conservative unless "
                f"(1|{col}) is in the formula"
            )
    return out


def build_design(data: pd.DataFrame, spec: ModelSpec) -> Design:
    """Build the model frame; raises ``ValueError`` naming missing columns or empty data."""
    missing = [v for v in spec.variables if v not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in the data: {', '.join(missing)}")
    used = list(dict.fromkeys(spec.variables))
    na = data[used].isna().any(axis=1).to_numpy()
    warnings: list[str] = []
    frame = data.loc[~na] if na.any() else data
    if na.any():
        warnings.append(f"dropped {int(na.sum())} row(s) with missing values in used columns")
    if len(frame) == 0:
        raise ValueError("no complete rows left to fit")
    y_col = frame[spec.outcome]
    if _is_factor(y_col):
        raise ValueError(f"the outcome {spec.outcome!r} must be numeric")
    y = y_col.to_numpy(dtype=float)
    X, names = _fixed_matrix(frame, spec)
    X, names = _drop_aliased(X, names, warnings)
    groups: dict[str, np.ndarray] = {}
    n_levels: dict[str, int] = {}
    for r in spec.random:
        if len(r.group) == 1:
            codes, uniques = pd.factorize(frame[r.group[0]], sort=False)
        else:
            key = pd.MultiIndex.from_frame(frame[list(r.group)].astype(str))
            codes, uniques = pd.factorize(key, sort=False)
        groups[r.name] = codes.astype(np.int64)
        n_levels[r.name] = len(uniques)
    warnings += _cluster_level_warnings(frame, spec)
    return Design(y, X, names, groups, n_levels, frame, warnings)
