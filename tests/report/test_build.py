"""build_report and render_html on analysis results: structure, escaping, missing parts.

No database: the results come from analysis.pipeline.run_analysis on simulated frames.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from analysis.pipeline import run_analysis
from analysis.report import build_report, is_report, render_html
from analysis.report.distributions import rating_distributions
from analysis.report.formatting import FORMATTERS, num3, pct, pval
from analysis.report.svg import (
    bradley_terry_chart,
    distribution_chart,
    flow_diagram,
    forest_plot,
    orr_perception_chart,
    position_bias_chart,
    quota_histogram,
)
from analysis.simulate import simulate_ratings

HOSTILE = "<script>alert(1)</script>"
MODELS = {HOSTILE: 0.5, 'quote"&\'amp': 0.2, "plain-model": 0.05}
TITLE = "<img src=x onerror=alert(2)> study"


def long_ratings(seed: int = 0) -> pd.DataFrame:
    wide = simulate_ratings(n_participants=24, n_prompts=20, ratings_per_participant=12,
                            models=MODELS, seed=seed)
    return wide.melt(
        id_vars=[c for c in wide.columns if c not in ("helpfulness", "frustration")],
        value_vars=["helpfulness", "frustration"], var_name="scale", value_name="value",
    )


def comparisons(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = sorted(MODELS)
    rows = []
    for k in range(120):
        a, b = rng.choice(3, size=2, replace=False)
        better = MODELS[names[a]] < MODELS[names[b]]
        choice = "a" if (rng.random() < (0.75 if better else 0.25)) else "b"
        rows.append({"participant": f"p{k % 20}", "item": k, "model_a": names[a],
                     "model_b": names[b], "shown_left": "ab"[k % 2], "choice": choice})
    return pd.DataFrame(rows)


def full_result() -> dict:
    ratings = long_ratings()
    result = run_analysis(
        ratings, comparisons=comparisons(), n_boot=30, seed=5,
        study={"slug": "hostile", "title": TITLE, "status": "recruiting"},
        flow={"entered": 26, "consented": 25, "not_consented": 1, "completed": 24,
              "excluded": 1, "excluded_by_reason": {"incomplete": 1, "attention": 0,
                                                    "speeding": 0, "straightlining": 0},
              "excluded_first_reason": {"incomplete": 1, "attention": 0, "speeding": 0,
                                        "straightlining": 0},
              "analysed": 24, "rules": {"attention_failures_max": 0, "min_median_seconds": 3,
                                        "straightline_run": 10, "require_complete": True}},
    )
    result["study"]["scales"] = [
        {"key": "helpfulness", "question": "<b>How helpful</b>?", "min": 1, "max": 7,
         "low_anchor": "<i>not</i>", "high_anchor": "very"},
        {"key": "frustration", "question": "How frustrating?", "min": 1, "max": 7,
         "low_anchor": "", "high_anchor": ""},
    ]
    result["distributions"] = rating_distributions(ratings, scale_ranges={"helpfulness": (1, 7)})
    return result


@pytest.fixture(scope="module")
def result() -> dict:
    return full_result()


@pytest.fixture(scope="module")
def report(result) -> dict:
    return build_report(result)


def test_build_report_is_strict_json_and_idempotent(report):
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert is_report(report) and build_report(report) is report
    assert {"flow", "reliability", "models_table", "fits", "pairwise", "methods",
            "distributions", "data_dictionary", "meta"} <= set(report)


def test_build_report_fit_laid_out_like_lme4(report, result):
    fit, source = report["fits"][0], result["models"][0]
    assert fit["criterion_label"] == "REML criterion at convergence"
    assert fit["criterion"] == pytest.approx(-2 * source["loglik"])
    groups = [r["group"] for r in fit["random"]]
    levels = [source["n_groups"][g] for g in groups[:-1]]
    assert groups[-1] == "Residual" and levels == sorted(levels, reverse=True)
    assert fit["random"][0]["sd"] == pytest.approx(fit["random"][0]["variance"] ** 0.5)
    assert [r["t"] for r in fit["fixed"]] == [r.get("z", r.get("t")) for r in source["fixed"]]
    # every non-intercept term appears in the ordinal comparison, flagged as the pipeline says
    assert [r["term"] for r in fit["comparison"]] == [r["term"] for r in source["fixed"][1:]]
    flagged = {r["term"] for r in source["ordinal_disagreements"] if r.get("flagged", True)}
    assert {r["term"] for r in fit["comparison"] if r["flagged"]} == flagged


def test_render_html_escapes_every_data_text(report):
    html = render_html(report)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt; study" in html
    assert "&lt;b&gt;How helpful&lt;/b&gt;?" in html
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert(2)&gt;", "")
    # every inline SVG is well-formed XML, so no text broke out of its element
    for svg in re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL):
        ET.fromstring(svg)


def test_render_html_is_self_contained(report):
    html = render_html(report)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert "@media print" in html and "break-before: page" in html
    assert html.count('class="figure-svg"') == 7  # flow, ORR, distributions, 2 forests, BT, bias


def test_render_html_accepts_an_analyze_result(result):
    html = render_html(result)
    assert "Mixed-effects models" in html and "REML criterion at convergence" in html


def test_missing_parts_are_said_not_hidden():
    ratings = long_ratings(seed=1)
    result = run_analysis(
        ratings, n_boot=0,
        formulas=["helpfulness ~ refused + (1|participant)",
                  "frustration ~ no_such_column + (1|participant)"],
    )
    report = build_report(result)
    assert not report["pairwise"]["available"] and not report["flow"]["available"]
    assert report["distributions"]["available"]  # run_analysis always counts the values
    assert report["fits"][1]["ok"] is False and "no_such_column" in report["fits"][1]["error"]
    html = render_html(report)
    assert "No A/B comparisons" in html
    assert "The model could not be fitted" in html and "no_such_column" in html
    assert "no participant flow" in html
    assert html.count('class="figure-svg"') == 3  # ORR vs perception, distributions, one forest plot


def test_methods_paragraph_names_formulas_method_seed_and_versions(report):
    text = " ".join(report["methods"])
    for formula in report["meta"]["formulas"]:
        assert formula in text
    assert "restricted maximum likelihood (REML)" in text
    assert "profiled penalised least squares" in text
    assert "Random seed 5" in text and f"NumPy {report['meta']['software']['numpy']}" in text
    assert "25 consented" in text and "leaving 24 for analysis" in text


def test_figures_escape_hostile_names(report):
    figures = [
        flow_diagram(report["flow"]),
        orr_perception_chart(report["models_table"]),
        distribution_chart(report["distributions"]),
        forest_plot(report["fits"][0], ident="f"),
        bradley_terry_chart(report["pairwise"]),
        position_bias_chart(report["pairwise"]["position_bias"]),
        quota_histogram([{"ratings": 0, "label": "0", "items": 3},
                         {"ratings": 1, "label": "1", "items": 5}], quota=1),
    ]
    for svg in figures:
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title") is not None
        assert "<script" not in svg


@pytest.mark.parametrize(
    ("formatter", "value", "text"),
    [
        (num3, -0.0001, "0.000"), (num3, 1.23456, "1.235"), (num3, None, "–"),
        (pct, 0.0333, "3.3 %"), (pval, 1e-40, "< 0.001"), (pval, 0.0456, "0.046"),
        (FORMATTERS["int"], 1152, "1,152"), (num3, float("nan"), "–"),
    ],
)
def test_formatting(formatter, value, text):
    assert formatter(value) == text


def test_rating_distributions_fill_unused_values():
    frame = pd.DataFrame({"model": ["a", "a", "b"], "scale": ["s", "s", "s"],
                          "value": [1, 3, 3], "attention_check": [0, 0, 0]})
    dist = rating_distributions(frame, scale_ranges={"s": (1, 4)})
    assert dist["scales"][0]["values"] == [1, 2, 3, 4]
    assert dist["scales"][0]["models"] == [{"model": "a", "n": 2, "counts": [1, 0, 1, 0]},
                                           {"model": "b", "n": 1, "counts": [0, 0, 1, 0]}]


def test_analyze_command_writes_the_html_report(tmp_path):
    from django.core.management import call_command

    ratings = tmp_path / "ratings.csv"
    long_ratings(seed=2).to_csv(ratings, index=False)
    out = tmp_path / "report.html"
    call_command("analyze", "--ratings", str(ratings), "--format", "html", "--n-boot", "0",
                 "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "REML criterion at convergence" in html
    assert "&lt;script&gt;" in html and "<script" not in html
