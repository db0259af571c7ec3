"""Pre-registered participant exclusions and the participant flow.

The rules are fixed before data collection (stored with the study as a small dict) and applied
mechanically here, so the analysed sample never depends on looking at the results.

Inputs
    ``participants``: one row per participant who entered, with ``participant`` and optionally
    ``consented`` (default: yes), ``completed`` (needed when ``require_complete``) and
    ``attention_failures`` (a count; otherwise derived from the ratings).
    ``ratings``: one row per participant × item × scale, with ``participant, item, scale,
    value`` and, as the active rules need them, ``seconds`` (time on the item, repeated on each
    of its scale rows), ``attention_check`` (1 on attention-check items) and ``attention_passed``
    (0/1 on those rows). Rows are taken in presentation order: by an ``order`` column when
    present, else as given.

A rule whose data are missing raises ``ValueError``: a pre-registered rule is never skipped
silently. A rule set to ``None`` is switched off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

#: Reasons in the order a flow diagram lists them (each participant under the first that applies).
REASONS = ("incomplete", "attention", "speeding", "straightlining")


@dataclass(frozen=True)
class ExclusionRules:
    """Pre-registered exclusion rules, from a dict such as::

        {"attention_failures_max": 0, "min_median_seconds": 3,
         "straightline_run": 10, "require_complete": true}

    ``attention_failures_max``
        Exclude participants who failed *more* attention-check items than this (0: any failure
        excludes). ``None``: no attention rule.
    ``min_median_seconds``
        Exclude participants whose median time per item (over the items they answered,
        attention checks included) is below this many seconds (speeding). ``None``: no rule.
    ``straightline_run``
        Exclude participants who gave the same value to at least this many consecutive items on
        any one scale (attention checks left out of the sequence). ``None``: no rule.
    ``require_complete``
        Exclude participants who did not complete the session.

    Unknown keys are an error, so that a typo in a pre-registration cannot switch a rule off.
    """

    attention_failures_max: int | None = 0
    min_median_seconds: float | None = 3.0
    straightline_run: int | None = 10
    require_complete: bool = True

    def __post_init__(self) -> None:
        # Type errors raise TypeError, impossible values ValueError; callers parsing a stored
        # pre-registration catch both.
        for name in ("attention_failures_max", "straightline_run"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be a whole number or null, not {value!r}")
        seconds = self.min_median_seconds
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float)
        ):
            raise TypeError(f"min_median_seconds must be a number or null, not {seconds!r}")
        if not isinstance(self.require_complete, bool):
            raise TypeError("require_complete must be true or false")
        if self.attention_failures_max is not None and self.attention_failures_max < 0:
            raise ValueError("attention_failures_max must be 0 or more")
        if self.straightline_run is not None and self.straightline_run < 2:
            raise ValueError("straightline_run must be at least 2")
        if seconds is not None and seconds < 0:
            raise ValueError("min_median_seconds must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ExclusionRules:
        """Rules from a (JSON) dict; missing keys take the defaults above."""
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown exclusion rule(s) {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_flag(values: pd.Series) -> pd.Series:
    """0/1, booleans and yes/no/true/false strings as booleans; missing counts as False."""
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["1", "1.0", "true", "yes", "y", "t"])


def _longest_run(values: pd.Series) -> int:
    """Length of the longest run of equal consecutive values (NaN breaks a run)."""
    if values.empty:
        return 0
    block = (values != values.shift()).cumsum()
    return int(block.value_counts().max())


def participant_exclusions(
    participants: pd.DataFrame, ratings: pd.DataFrame, rules: ExclusionRules
) -> pd.DataFrame:
    """One row per participant (index ``participant``) with the evidence and the verdict.

    Columns: ``consented, completed, attention_failures, median_seconds, longest_run``, one
    boolean per reason in :data:`REASONS`, ``excluded`` (a consented participant breaking any
    rule), ``exclusion_reason`` (the reasons joined by ``;``, as in ratings.csv) and
    ``analysed`` (consented and not excluded). Participants who did not consent are neither
    excluded nor analysed: they never entered the sample.
    """
    if "participant" not in participants:
        raise ValueError("participants frame lacks the participant column")
    people = participants.drop_duplicates("participant").set_index("participant")
    strangers = set(ratings["participant"]) - set(people.index)
    if strangers:
        raise ValueError(
            f"ratings from participants not in the participants frame: {sorted(strangers)[:5]}"
        )
    if "order" in ratings:
        ratings = ratings.sort_values("order", kind="stable")
    table = pd.DataFrame(index=people.index)
    table["consented"] = _as_flag(people["consented"]) if "consented" in people else True
    if "completed" in people:
        table["completed"] = _as_flag(people["completed"])
    elif rules.require_complete:
        raise ValueError("require_complete needs a completed column in the participants frame")
    else:
        table["completed"] = pd.NA

    is_check = (
        _as_flag(ratings["attention_check"])
        if "attention_check" in ratings
        else pd.Series(False, index=ratings.index)
    )
    table["attention_failures"] = _attention_failures(people, ratings, is_check, rules)
    table["median_seconds"] = _median_seconds(ratings, rules)
    table["longest_run"] = (
        ratings[~is_check]
        .groupby(["participant", "scale"], sort=False)["value"]
        .apply(_longest_run)
        .groupby(level="participant")
        .max()
        .reindex(table.index)
        .fillna(0)
        .astype(int)
    )

    table["incomplete"] = rules.require_complete and ~table["completed"].astype(bool)
    table["attention"] = (
        table["attention_failures"] > rules.attention_failures_max
        if rules.attention_failures_max is not None
        else False
    )
    table["speeding"] = (
        table["median_seconds"] < rules.min_median_seconds  # NaN (no times) is never speeding
        if rules.min_median_seconds is not None
        else False
    )
    table["straightlining"] = (
        table["longest_run"] >= rules.straightline_run
        if rules.straightline_run is not None
        else False
    )
    for reason in REASONS:
        table[reason] = table[reason].astype(bool) & table["consented"]
    table["excluded"] = table[list(REASONS)].any(axis=1)
    table["exclusion_reason"] = table[list(REASONS)].apply(
        lambda row: ";".join(r for r in REASONS if row[r]), axis=1
    )
    table["analysed"] = table["consented"] & ~table["excluded"]
    return table


def _attention_failures(
    people: pd.DataFrame, ratings: pd.DataFrame, is_check: pd.Series, rules: ExclusionRules
) -> pd.Series:
    if "attention_failures" in people:
        return pd.to_numeric(people["attention_failures"]).fillna(0).astype(int)
    if "attention_passed" not in ratings:
        if rules.attention_failures_max is None:
            return pd.Series(0, index=people.index)
        raise ValueError(
            "the attention rule needs attention_failures (participants) or attention_check "
            "and attention_passed (ratings)"
        )
    checks = ratings[is_check]
    # an attention-check item counts as failed once, however many scale rows it has
    failed = (
        checks.assign(failed=~_as_flag(checks["attention_passed"]))
        .groupby(["participant", "item"])["failed"]
        .any()
    )
    return failed.groupby(level="participant").sum().reindex(people.index).fillna(0).astype(int)


def _median_seconds(ratings: pd.DataFrame, rules: ExclusionRules) -> pd.Series:
    if "seconds" not in ratings:
        if rules.min_median_seconds is None:
            return pd.Series(math.nan, index=ratings["participant"].unique())
        raise ValueError("the speeding rule needs a seconds column in the ratings")
    seconds = pd.to_numeric(ratings["seconds"], errors="coerce")
    per_item = seconds.groupby([ratings["participant"], ratings["item"]]).max()
    return per_item.groupby(level=0).median()


def participant_flow(table: pd.DataFrame, rules: ExclusionRules) -> dict[str, Any]:
    """Counts for a CONSORT-style flow diagram, from :func:`participant_exclusions`.

    ``entered → consented → completed → excluded → analysed``. ``excluded_by_reason`` counts
    every reason a participant broke (they overlap); ``excluded_first_reason`` puts each
    excluded participant under the first reason in :data:`REASONS` order (they add up to
    ``excluded``). ``completed`` counts consented participants who completed (None if unknown).
    """
    consented = table[table["consented"]]
    known = consented["completed"].notna().all()
    first = consented.loc[consented["excluded"], list(REASONS)].idxmax(axis=1)
    return {
        "entered": len(table),
        "consented": len(consented),
        "not_consented": len(table) - len(consented),
        "completed": int(consented["completed"].astype(bool).sum()) if known else None,
        "excluded": int(consented["excluded"].sum()),
        "excluded_by_reason": {r: int(consented[r].sum()) for r in REASONS},
        "excluded_first_reason": {r: int((first == r).sum()) for r in REASONS},
        "analysed": int(consented["analysed"].sum()),
        "rules": rules.to_dict(),
    }


def apply_exclusions(ratings: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``ratings`` with ``excluded`` (0/1) and ``exclusion_reason`` filled per participant."""
    out = ratings.copy()
    out["excluded"] = out["participant"].map(table["excluded"]).fillna(False).astype(int)
    out["exclusion_reason"] = out["participant"].map(table["exclusion_reason"]).fillna("")
    return out
