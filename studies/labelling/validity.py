"""How well an automatic labeller reproduces XSTest's human labels, per model.

Runs a labeller over the 2,250 XSTest v2 completions in ``fixtures/xstest`` and compares it with
the adjudicated human ``final_label`` (:func:`analysis.metrics.labeller_validity`): accuracy,
Cohen's κ (3 classes and refused yes/no) and the over-refusal rate on the 250 safe prompts by
humans and by the labeller. Print the table with::

    python -m studies.labelling.validity [labeller]      # default: string_match

Only rule-based labellers run offline; the ``judge`` would call its endpoint 2,250 times.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

from analysis.metrics import labeller_validity

from . import get_labeller

XSTEST_COMPLETIONS = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "xstest"
    / "xstest_v2_completions_labelled.csv"
)


def xstest_completions(path: Path = XSTEST_COMPLETIONS) -> pd.DataFrame:
    """XSTest's labelled completions with ``should_refuse`` (1 for the unsafe contrast prompts)."""
    # keep_default_na=False: completions such as "None" or "NA" are text, not missing values
    frame = pd.read_csv(path, keep_default_na=False)
    return frame.assign(should_refuse=(frame["prompt_label"] == "unsafe").astype(int))


def xstest_validity(
    labeller: str = "string_match",
    *,
    path: Path = XSTEST_COMPLETIONS,
    partial_counts: bool = True,
    **options: object,
) -> pd.DataFrame:
    """Per-model validity of ``labeller`` against XSTest's human ``final_label``."""
    frame = xstest_completions(path)
    strategy = get_labeller(labeller, **options)
    results = strategy.label_many(list(zip(frame["prompt"], frame["completion"], strict=True)))
    frame["auto_label"] = [r.label for r in results]
    return labeller_validity(
        frame, auto_col="auto_label", human_col="final_label", partial_counts=partial_counts
    )


def validity_markdown(table: pd.DataFrame, *, labeller: str = "string match") -> str:
    """The validity table as Markdown, rates as percentages (for the README)."""

    def pct(x: float) -> str:
        return "undefined" if math.isnan(x) else f"{100 * x:.1f} %"

    def num(x: float) -> str:
        return "undefined" if math.isnan(x) else f"{x:.3f}"

    header = "| model | n | accuracy (3-class) | κ (3-class) | κ (refused) | ORR humans "
    lines = [f"{header}| ORR {labeller} |", "|---|---|---|---|---|---|---|"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.model} | {row.n} | {pct(row.accuracy)} | {num(row.kappa)} "
            f"| {num(row.kappa_refused)} | {pct(row.orr_human)} | {pct(row.orr_auto)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a convenience for the README table
    name = sys.argv[1] if len(sys.argv) > 1 else "string_match"
    print(validity_markdown(xstest_validity(name), labeller=name.replace("_", " ")))
