"""The annotator path in real Chromium: keyboard only, resume after reload, phone width, XSS."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from annotation.models import Participant, Rating
from studies.models import Response, Study
from tests.annotation.conftest import build_study

pytestmark = pytest.mark.django_db(transaction=True)

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def answer_with_keyboard(page) -> str:
    # Keys pressed before the deferred script has run would be lost, as no person could type
    # that fast after a page load.
    page.wait_for_selector("html[data-keyboard=ready]", state="attached")
    kind = page.get_attribute("#task", "data-kind")
    if kind == "pair":
        page.keyboard.press("b")
    elif kind == "attention":
        for _ in page.locator("fieldset[data-group=scale]").all():
            page.keyboard.press("2")
    else:
        for digit in ("5", "3")[: page.locator("fieldset[data-group=scale]").count()]:
            page.keyboard.press(digit)
    page.keyboard.press("Enter")
    return kind


def test_prolific_participant_completes_demo_with_keyboard_only(live_server, page, test_output_dir):
    call_command("demo")
    study = Study.objects.get(slug="xstest-demo")
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=kb-user-1&STUDY_ID=demo&SESSION_ID=s1")
    page.wait_for_selector("text=Content warning")
    page.screenshot(path=str(test_output_dir / "annotator-consent.png"), full_page=True)
    page.keyboard.press("Enter")  # the agree button has focus
    page.wait_for_selector("#start")
    page.keyboard.press("Enter")  # the Start link has focus
    page.wait_for_selector("#task")
    kinds = []
    for step in range(40):
        if "/done/" in page.url:
            break
        progress = page.inner_text("#progress-text")
        if step in (0, 5):
            page.screenshot(path=str(test_output_dir / f"annotator-item-{step}.png"), full_page=True)
        kinds.append(answer_with_keyboard(page))
        page.wait_for_function(
            "(old) => location.pathname.endsWith('/done/') || (document.querySelector('#progress-text') && document.querySelector('#progress-text').textContent !== old) || document.querySelector('.error')",
            arg=progress,
        )
        assert not page.query_selector(".error"), page.inner_text(".error")
    page.wait_for_selector("#completion-code")
    assert page.inner_text("#completion-code") == "XSTDEMO1"
    page.screenshot(path=str(test_output_dir / "annotator-done.png"), full_page=True)
    participant = Participant.objects.get()
    assert participant.status == "completed" and participant.platform == "prolific"
    assert kinds.count("attention") == 1 and "pair" in kinds and "single" in kinds
    assert Rating.objects.filter(participant=participant).exclude(item__kind="attention").count() == 20
    assert Rating.objects.get(item__kind="attention").attention_passed is True


def test_reload_mid_study_resumes_same_item(live_server, page):
    study = build_study(items_per_participant=4)
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=reloader")
    page.click("button[value=agree]")
    page.click("#start")
    answer_with_keyboard(page)
    page.wait_for_selector("text=Item 2 of 4")
    before = page.get_attribute("input[name=assignment]", "value")
    page.reload()
    page.wait_for_selector("#task")
    assert page.get_attribute("input[name=assignment]", "value") == before
    assert page.inner_text("#progress-text") == "Item 2 of 4"
    # A new tab with the same Prolific link resumes too.
    other = page.context.new_page()
    other.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=reloader")
    other.wait_for_selector("#task")
    assert other.get_attribute("input[name=assignment]", "value") == before
    assert Participant.objects.count() == 1


def test_phone_width_has_no_horizontal_scroll(live_server, phone_page, test_output_dir):
    call_command("demo")
    page = phone_page
    page.goto(f"{live_server.url}/s/xstest-demo/?PROLIFIC_PID=phone-user")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.click("button[value=agree]")
    page.click("#start")
    for step in range(6):
        page.wait_for_selector("#task")
        assert page.evaluate(NO_HORIZONTAL_SCROLL), f"horizontal scroll on item {step}"
        if step == 0:
            page.screenshot(path=str(test_output_dir / "annotator-phone-375.png"), full_page=True)
        old = page.inner_text("#progress-text")
        answer_with_keyboard(page)
        page.wait_for_function("(old) => document.querySelector('#progress-text').textContent !== old", arg=old)


def test_untrusted_response_is_inert_in_browser(live_server, page, test_output_dir):
    study = build_study(prompts=1, models=2, items_per_participant=2)
    payload = (
        '<script>window.__xss = 1</script>\n\n<img src=x onerror="window.__xss = 2">\n\n'
        "[click me](javascript:window.__xss=3) and <a href=\"javascript:window.__xss=4\">link</a> "
        "<svg onload=\"window.__xss=5\"></svg> **bold**"
    )
    Response.objects.update(text=payload)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/s/{study.slug}/")
    page.click("button[value=agree]")
    page.click("#start")
    page.wait_for_selector(".response-text")
    for link in page.locator(".response-text a").all():
        link.click()
    assert page.evaluate("window.__xss") is None
    assert page.locator(".response-text script, .response-text img, .response-text svg").count() == 0
    assert page.locator(".response-text a[href^='javascript']").count() == 0
    assert page.locator(".response-text strong").count() >= 1
    assert "<img src=x" in page.inner_text(".response-text")  # shown as text
    assert dialogs == []
    page.screenshot(path=str(test_output_dir / "annotator-xss.png"), full_page=True)
