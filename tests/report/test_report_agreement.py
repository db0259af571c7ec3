"""HTML, JSON and ZIP of one study's report agree on every number, and the ZIP's CSV files
reproduce the report's models."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from analysis.report import build_bundle, render_html, report_for_study
from analysis.report.bundle import BUNDLE_FILES, report_json
from analysis.report.formatting import FORMATTERS
from analysis.runner import analyze_csv
from tests.report.conftest import rated_study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

N_BOOT = 40


class NumberCollector(HTMLParser):
    """(key, formatter, text) of every element carrying data-k."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[list[str]] = []
        self._open: list[list[str] | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        entry = [attrs["data-k"], attrs["data-f"], ""] if "data-k" in attrs else None
        if entry:
            self.found.append(entry)
        self._open.append(entry)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for entry in self._open:
            if entry is not None:
                entry[2] += data


def lookup(report: dict, key: str):
    value = report
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def html_numbers(html: str) -> dict[str, tuple[str, str]]:
    parser = NumberCollector()
    parser.feed(html)
    return {key: (f, text) for key, f, text in parser.found}


@pytest.fixture
def study_report(client):
    study = rated_study(client)
    return study, report_for_study(study, n_boot=N_BOOT)


def test_report_html_json_zip_agree_on_every_number(study_report, tmp_path: Path):
    study, report = study_report
    assert report["data"]["rows_in"] > 300  # a few hundred rating rows (two scales per item)
    html = render_html(report)
    numbers = html_numbers(html)

    # every number the HTML tags is the JSON value, formatted as the HTML says
    assert len(numbers) > 150
    for key, (f, text) in numbers.items():
        assert FORMATTERS[f](lookup(report, key)) == text.strip(), key

    # and the numbers that matter are all tagged
    expected = []
    for i, fit in enumerate(report["fits"]):
        assert fit["ok"], fit.get("error")
        expected += [f"fits.{i}.fixed.{j}.{k}" for j in range(len(fit["fixed"]))
                     for k in ("estimate", "se", "t", "p", "ci_low", "ci_high")]
        expected += [f"fits.{i}.random.{j}.{k}" for j in range(len(fit["random"]))
                     for k in ("variance", "sd")]
        expected += [f"fits.{i}.criterion", f"fits.{i}.n_obs"]
    for j, _ in enumerate(report["models_table"]["rows"]):
        expected += [f"models_table.rows.{j}.{m}.{k}" for m in ("orr", "cr", "trr")
                     for k in ("value", "ci_low", "ci_high")]
        expected += [f"models_table.rows.{j}.perceived.{s}.mean" for s in range(2)]
    for j, _ in enumerate(report["pairwise"]["bradley_terry"]):
        expected += [f"pairwise.bradley_terry.{j}.{k}" for k in ("log_strength", "ci_low", "ci_high")]
    expected += [f"reliability.scales.{j}.alpha" for j in range(len(report["reliability"]["scales"]))]
    expected += ["pairwise.position_bias.share_left", "flow.analysed", "flow.entered"]
    missing = [k for k in expected if k not in numbers]
    assert not missing, missing

    # the ZIP carries the same report, its HTML rendering and the tidy files
    archive = zipfile.ZipFile(io.BytesIO(build_bundle(study, report=report)))
    assert sorted(archive.namelist()) == sorted(BUNDLE_FILES)
    assert json.loads(archive.read("report.json")) == report
    assert archive.read("report.json").decode() == report_json(report)
    assert archive.read("report.html").decode() == html
    readme = archive.read("README.txt").decode()
    for fit in report["fits"]:
        assert f"lmer({fit['formula']}, data = wide, REML = TRUE)" in readme
    codebook = json.loads(archive.read("codebook.json"))
    assert codebook["study"]["slug"] == study.slug

    # re-analysing the ZIP's CSV files gives the report's models
    archive.extractall(tmp_path)
    again = analyze_csv(
        tmp_path / "ratings.csv", comparisons=tmp_path / "comparisons.csv",
        responses=tmp_path / "responses.csv", formulas=report["meta"]["formulas"],
        method=report["meta"]["method"], seed=report["meta"]["seed"], n_boot=N_BOOT,
    )
    for fit, refit in zip(report["fits"], again["models"], strict=True):
        assert refit["formula"] == fit["formula"]
        for row, new in zip(fit["fixed"], refit["fixed"], strict=True):
            assert new["term"] == row["term"]
            assert new["estimate"] == pytest.approx(row["estimate"], abs=1e-8)
            assert new["se"] == pytest.approx(row["se"], abs=1e-8)
        for row in fit["random"][:-1]:
            assert refit["random"][row["group"]] == pytest.approx(row["variance"], abs=1e-8)
    bt = {r["model"]: r["log_strength"] for r in again["pairwise"]["bradley_terry"]["ties_half"]}
    for row in report["pairwise"]["bradley_terry"]:
        assert bt[row["model"]] == pytest.approx(row["log_strength"], abs=1e-10)


def test_report_json_view_matches_a_fresh_build_but_for_timings(study_report, admin_client):
    from analysis.report import VOLATILE_KEYS

    study, report = study_report
    response = admin_client.get(f"/admin/studies/study/{study.pk}/report.json?n_boot={N_BOOT}")
    assert response.status_code == 200
    served = response.json()

    def strip(data):
        if isinstance(data, dict):
            return {k: strip(v) for k, v in data.items() if k not in VOLATILE_KEYS}
        if isinstance(data, list):
            return [strip(v) for v in data]
        return data

    assert strip(served) == strip(report)
    html = admin_client.get(f"/admin/studies/study/{study.pk}/report.html?n_boot={N_BOOT}")
    assert html.status_code == 200
    assert "default-src 'none'" in html["Content-Security-Policy"]
    for key, (f, text) in html_numbers(html.content.decode()).items():
        assert FORMATTERS[f](lookup(served, key)) == text.strip(), key


def test_bundle_refits_in_r_with_lme4(study_report, tmp_path: Path):
    """The README's R code reproduces the report's fixed effects (when R and lme4 exist)."""
    import subprocess

    from analysis.lmm.lme4 import lme4_available

    if not lme4_available():
        pytest.skip("Rscript with lme4 is not installed")
    study, report = study_report
    archive = zipfile.ZipFile(io.BytesIO(build_bundle(study, report=report)))
    archive.extractall(tmp_path)
    readme = (tmp_path / "README.txt").read_text()
    code = readme[readme.index("library(lme4)"):]
    code = "\n".join(line for line in code.splitlines() if "ordinal::" not in line
                     and not re.match(r"summary\(o\d+\)", line))
    code += "\n" + "\n".join(
        f'write.csv(data.frame(term = names(fixef(m{i})), estimate = unname(fixef(m{i}))), '
        f'"fixef{i}.csv", row.names = FALSE)'
        for i in range(1, len(report["fits"]) + 1)
    )
    (tmp_path / "refit.R").write_text(code)
    run = subprocess.run(["Rscript", "refit.R"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    import pandas as pd

    for i, fit in enumerate(report["fits"], start=1):
        r = pd.read_csv(tmp_path / f"fixef{i}.csv").set_index("term")["estimate"]
        for row in fit["fixed"]:
            assert r[row["term"]] == pytest.approx(row["estimate"], abs=1e-4), row["term"]
