"""The HTML report in real Chromium: every figure drawn, nothing fetched, nothing executed."""

from __future__ import annotations

import pytest

from analysis.report import render_html, report_for_study
from tests.browser.conftest import browser  # noqa: F401 - the session's Chromium
from tests.report.conftest import build_report_study, rate_through_api

pytestmark = [pytest.mark.django_db, pytest.mark.browser, pytest.mark.slow]

FIGURES = {"fig-flow", "fig-orr-perception", "fig-distributions", "fig-forest-0", "fig-forest-1",
           "fig-bradley-terry", "fig-position-bias"}


def test_report_in_chromium_shows_every_figure(client, browser, test_output_dir):  # noqa: F811
    from annotation.simulation import simulate_participants

    # a hostile model name must stay text: no dialog may open
    study = build_report_study(model_names=("<script>alert(1)</script>", "careful-13b",
                                            "strict-70b"))
    rate_through_api(client, study, participants=8)
    simulate_participants(study=study, n=14, seed=3, speeders=0.15)
    report = report_for_study(study, n_boot=100)
    path = test_output_dir / "report.html"
    path.write_text(render_html(report), encoding="utf-8")

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    dialogs, requests, errors = [], [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    boxes = page.evaluate(
        """[...document.querySelectorAll('svg.figure-svg')].map(s => {
               const r = s.getBoundingClientRect();
               return {id: s.id, width: r.width, height: r.height,
                       marks: s.querySelectorAll('rect, circle, line, path').length};
           })"""
    )
    assert {b["id"] for b in boxes} == FIGURES
    for box in boxes:
        assert box["width"] > 300 and box["height"] > 80 and box["marks"] > 5, box
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
    )
    assert broken == 0
    assert page.locator("td.model", has_text="<script>alert(1)</script>").count() == 2  # two tables
    assert dialogs == [] and errors == []
    assert all(url.startswith("file://") for url in requests), requests
    page.screenshot(path=str(test_output_dir / "report.png"), full_page=True)

    # printed: each section starts a page and no figure is split across pages
    page.emulate_media(media="print")
    breaks = page.evaluate(
        """[...document.querySelectorAll('section.report-section')]
               .map(s => getComputedStyle(s).breakBefore)"""
    )
    assert set(breaks) == {"page"}
    assert page.evaluate(
        "[...document.querySelectorAll('figure.fig')].every(f => "
        "getComputedStyle(f).breakInside === 'avoid')"
    )
    page.pdf(path=str(test_output_dir / "report.pdf"), format="A4", print_background=True)
    assert (test_output_dir / "report.pdf").stat().st_size > 20_000
    context.close()
