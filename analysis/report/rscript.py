"""README.txt of the report bundle: what each file is, and the R/lme4 calls that refit the
report's models from the bundled CSV files."""

from __future__ import annotations

import re
from typing import Any

_GROUP = re.compile(r"\|\s*([A-Za-z_.][\w.]*)\s*\)")


def _grouping_factors(formula: str) -> list[str]:
    return list(dict.fromkeys(_GROUP.findall(formula)))


def _fixed_part(formula: str) -> str:
    """The formula without its random terms, for the ordinal check."""
    outcome, rhs = formula.split("~", 1)
    terms = [t.strip() for t in re.sub(r"\([^()]*\|[^()]*\)", "", rhs).split("+")]
    terms = [t for t in terms if t]
    return f"{outcome.strip()} ~ {' + '.join(terms) or '1'}"


def r_script(report: dict[str, Any]) -> str:
    """R code refitting every model of ``report`` with lme4 on the bundled ratings.csv."""
    include_excluded = bool(report["meta"].get("include_excluded"))
    lines = [
        'install.packages(c("lme4", "ordinal"))  # once',
        "library(lme4)",
        'ratings <- read.csv("ratings.csv", stringsAsFactors = FALSE)',
    ]
    if include_excluded:
        lines.append("# The report kept excluded participants and attention checks "
                     "(--include-excluded).")
    else:
        lines += [
            "# As in the report: leave out attention checks and excluded participants.",
            "ratings <- subset(ratings, attention_check == 0 & excluded == 0)",
        ]
    lines += [
        "# One row per participant x item with one column per scale, as the report's models use.",
        'values <- reshape(ratings[, c("participant", "item", "scale", "value")],',
        '                  idvar = c("participant", "item"), timevar = "scale", direction = "wide")',
        'names(values) <- sub("^value[.]", "", names(values))',
        'items <- ratings[!duplicated(ratings[, c("participant", "item")]),',
        '                 setdiff(names(ratings), c("scale", "value"))]',
        'wide <- merge(items, values, by = c("participant", "item"))',
    ]
    factors = sorted({g for fit in report["fits"] for g in _grouping_factors(fit["formula"])})
    if factors:
        names = ", ".join(f'"{g}"' for g in factors)
        lines.append(f"for (g in c({names})) wide[[g]] <- factor(wide[[g]])")
    for i, fit in enumerate(report["fits"], start=1):
        reml = "TRUE" if fit.get("method", "REML") == "REML" else "FALSE"
        lines += [
            "",
            f"# Model {i}: {fit['outcome']}",
            f"m{i} <- lmer({fit['formula']}, data = wide, REML = {reml})",
            f"summary(m{i})",
            f'confint(m{i}, method = "Wald")  # the report\'s 95 % intervals',
        ]
        if not fit.get("ok"):
            lines.append(f"# (the report could not fit this model: {fit.get('error')})")
            continue
        expected = ", ".join(f"{r['term']} = {r['estimate']:.10g}" for r in fit["fixed"]
                             if r.get("estimate") is not None)
        lines.append(f"# expected fixed effects (report.json): {expected}")
        if fit["ordinal"].get("available"):
            fixed = _fixed_part(fit["formula"])
            outcome = fit["outcome"]
            ordinal_formula = fixed.replace(outcome, f"factor({outcome}, ordered = TRUE)", 1)
            lines += [
                "# Ordinal check: same point estimates as the report's cumulative-logit model",
                "# (its standard errors are cluster-robust instead); clmm() with the random",
                "# intercepts is the stronger version of the check.",
                f"o{i} <- ordinal::clm({ordinal_formula}, data = wide)",
                f"summary(o{i})",
            ]
    return "\n".join(lines) + "\n"


def readme_text(report: dict[str, Any]) -> str:
    study = report["study"]
    meta = report["meta"]
    flags = "" if not meta.get("include_excluded") else " --include-excluded"
    formulas = " ".join(f'--formula "{f}"' for f in meta.get("formulas") or [])
    return f"""Refusal Perception Lab - report bundle
Study: {study.get('title')} ({study.get('slug')})
Generated: {report.get('generated_at')} (report schema {report.get('schema')})

FILES
  report.html       the report; open it in a browser, print it to PDF from there
  report.json       every number in the report (report.html is rendered from it)
  ratings.csv       one row per participant x item x scale
  comparisons.csv   one row per participant x A/B pair
  responses.csv     one row per model response, with its automated refusal label
  participants.csv  one row per participant, with the exclusion verdict and its evidence
  codebook.json     study design, scales, exclusion rules and every column's meaning
The CSV files were exported when the bundle was made. report.json's data.rows_in is the
number of rows of ratings.csv the report was built from; if they differ, ratings arrived in
between: download the bundle again.

RE-RUNNING THE ANALYSIS IN PYTHON (this project)
  python manage.py analyze --ratings ratings.csv --comparisons comparisons.csv \\
      --responses responses.csv --method {meta.get('method')} --seed {meta.get('seed')} \\
      --n-boot {meta.get('n_boot')}{flags} {formulas}
gives the same estimates; the bootstrap intervals match with the same seed and n-boot.

RE-FITTING THE MIXED MODELS IN R (lme4)
The report's fits reproduce lme4: same formulas, {meta.get('method')}, crossed random
intercepts. Its p values and intervals are Wald (normal reference), as
confint(method = "Wald"); lme4's summary() prints t values without p values.

{r_script(report)}"""
