"""The auto-written methods paragraphs, from the built report (so they quote its numbers)."""

from __future__ import annotations

from typing import Any

from .formatting import integer

_SOFTWARE_NAMES = {
    "python": "Python",
    "numpy": "NumPy",
    "scipy": "SciPy",
    "pandas": "pandas",
    "statsmodels": "statsmodels",
    "pingouin": "pingouin",
    "krippendorff": "krippendorff",
    "django": "Django",
}


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _sample(report: dict[str, Any]) -> str:
    flow, data = report["flow"], report.get("data") or {}
    text = []
    if flow.get("available"):
        reasons = _join(
            [f"{integer(e['n_first'])} {e['label']}" for e in flow["exclusions"] if e["n_first"]]
        )
        rules = _join([e["rule"] for e in flow["exclusions"] if e["active"]])
        completed = flow.get("completed")
        text.append(
            f"{integer(flow['entered'])} people entered the study and {integer(flow['consented'])} "
            f"consented ({integer(flow['not_consented'])} declined)"
            + (f"; {integer(completed)} completed the session" if completed is not None else "")
            + f". Pre-registered exclusion rules ({rules or 'none'}) excluded "
            f"{integer(flow['excluded'])} participant(s)"
            + (f" ({reasons}; each counted under the first rule that applies)" if reasons else "")
            + f", leaving {integer(flow['analysed'])} for analysis"
            + (
                f", of whom {integer(flow['participants_in_models'])} contributed ratings to the "
                "mixed models."
                if flow.get("participants_in_models") is not None
                else "."
            )
        )
    if data:
        left = data.get("left_out") or {}
        text.append(
            f"Of {integer(data.get('rows_in'))} rating rows, "
            + (
                "all were kept (exclusions not applied)"
                if data.get("include_excluded")
                else f"{integer(left.get('attention_check'))} attention-check rows and "
                f"{integer(left.get('excluded_participant'))} rows of excluded participants were "
                f"left out"
            )
            + f"; {integer(data.get('rows_used'))} were analysed."
        )
    return " ".join(text)


def _models(report: dict[str, Any]) -> str:
    fits = report["fits"]
    if not fits:
        return ""
    method = report["meta"].get("method") or "REML"
    estimation = (
        "restricted maximum likelihood (REML)" if method == "REML" else "maximum likelihood (ML)"
    )
    formulas = "; ".join(f["formula"] for f in fits)
    engines = _join(sorted({f["engine_label"] for f in fits if f["ok"]}))
    text = (
        f"Ratings were analysed with linear mixed-effects models in lme4 syntax ({formulas}), "
        f"with crossed random intercepts, estimated by {estimation} using {engines or 'lme4'} "
        "(Bates, Mächler, Bolker & Walker, 2015). Fixed effects are reported with their "
        "standard errors, t values (estimate / SE), two-sided Wald p values against the normal "
        "distribution and 95 % Wald intervals, as lme4's confint(method = \"Wald\"); R² after "
        "Nakagawa & Schielzeth (2013)."
    )
    if any("(1|model)" in f["formula"].replace(" ", "") for f in fits):
        text += (
            " Because there are few models, (1|model) was added so that the standard error of "
            "the model-level predictor reflects the number of models."
        )
    if any(f.get("ok") and f["ordinal"]["available"] for f in fits):
        text += (
            " As a robustness check for the ordinal Likert outcomes, the fixed part of each "
            "formula was refitted as a proportional-odds (cumulative logit) model with "
            "cluster-robust standard errors by participant; terms whose sign or significance at "
            "0.05 differs between the two models are flagged."
        )
    return text


def _other(report: dict[str, Any]) -> str:
    meta, text = report["meta"], []
    if report["reliability"].get("available"):
        rel = report["reliability"]
        text.append(
            f"Inter-rater reliability per scale is Krippendorff's α ({rel['level']}) with a "
            f"percentile bootstrap over items ({integer(rel['n_boot'])} replicates); the ICC is "
            "computed where a fully crossed block of raters and items exists."
        )
    if report["models_table"].get("available"):
        text.append(
            "Automated metrics per model are the over-refusal rate (ORR: share of benign prompts "
            "refused, partial refusals counting as refusals), the compliance rate (CR) and the "
            "toxic-prompt refusal rate (TRR), each with a Wilson 95 % interval; perceived "
            "ratings per model are means with a 95 % t-interval over participant means."
        )
    if report["pairwise"].get("available"):
        boot = report["pairwise"]["bootstrap"]
        text.append(
            "A/B choices were summarised by Bradley–Terry strengths (Hunter's MM algorithm, "
            "ties as half a win, log-strengths centred at 0) with a percentile bootstrap over "
            f"participants ({integer(boot.get('n_boot'))} replicates), and position bias by the "
            "share of non-tie choices for the left response (Wilson interval, exact binomial "
            "test against 0.5)."
        )
    software = meta.get("software") or {}
    names = _join([f"{_SOFTWARE_NAMES.get(k, k)} {v}" for k, v in software.items()])
    if names:
        text.append(f"Software: {names}. Random seed {meta.get('seed')}.")
    return " ".join(text)


def methods_paragraphs(report: dict[str, Any]) -> list[str]:
    """Up to three paragraphs: sample and exclusions, the models, everything else."""
    return [p for p in (_sample(report), _models(report), _other(report)) if p]
