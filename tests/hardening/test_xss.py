"""Script in any text a study carries stays text: prompts, model responses, scale questions and
anchors, attention checks, consent, instructions, title, completion code and URL — on the
annotator pages (parsed here and run in real Chromium) and in every admin page of the objects.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import NoReverseMatch, reverse

from annotation.models import Participant
from annotation.services import assignment_claim_next, rating_submit
from studies.models import FoundationModel, Prompt, Response, Scale, Study, StudyItem
from tests.annotation.conftest import answer_for, build_study, new_participant
from tests.browser.conftest import browser, page  # noqa: F401 — the real-Chromium fixtures

pytestmark = pytest.mark.django_db

MARK = "XSSMARK"
# Short enough for the shortest text field (80 characters), each a different way in.
SHORT = [
    f'<script>window.__xss="{MARK}s"</script>',
    f'<img src=x onerror="window.__xss=\'{MARK}i\'">',
    f'"><svg onload="window.__xss=\'{MARK}v\'">',
    f"'><b onmouseover='window.__xss=\"{MARK}b\"'>",
]
LONG = "\n\n".join(
    SHORT
    + [
        f"<iframe src=\"javascript:window.__xss='{MARK}f'\"></iframe>",
        f"[click](javascript:window.__xss='{MARK}m') <a href=\"javascript:window.__xss='{MARK}a'\">a</a>",
        f'</textarea></title></script><script>window.__xss="{MARK}t"</script>',
        "{{ request.META }} {% debug %} ${7*7}",
    ]
)


def poison(study: Study) -> None:
    """Put a payload into every participant-facing text of the study."""
    Study.objects.filter(pk=study.pk).update(
        title=SHORT[1] + " study",
        consent_md=LONG,
        instructions_md=LONG,
        completion_code=SHORT[0][:64],
        completion_url=f"javascript:window.__xss='{MARK}u'",
    )
    for i, scale in enumerate(Scale.objects.filter(study=study)):
        Scale.objects.filter(pk=scale.pk).update(
            question=SHORT[i % 4] + " how good?", low_anchor=SHORT[(i + 1) % 4], high_anchor=SHORT[(i + 2) % 4]
        )
    Prompt.objects.filter(study=study).update(text=LONG)
    Response.objects.filter(prompt__study=study).update(text=LONG)
    StudyItem.objects.filter(study=study, kind="attention").update(attention_text=LONG)
    for i, model in enumerate(FoundationModel.objects.filter(responses__prompt__study=study).distinct()):
        FoundationModel.objects.filter(pk=model.pk).update(name=f"{SHORT[2]} {i}")


def poisoned_study() -> Study:
    study = build_study(
        prompts=1, models=2, attention=1, items_per_participant=3, attention_check_interval=1,
        one_response_per_prompt=False, ratings_per_item=3,
    )
    poison(study)
    study.refresh_from_db()
    return study


class Injected(HTMLParser):
    """Finds markup that came out of a payload rather than the templates."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") and MARK in value:
                self.found.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction", "content") and "javascript:" in value.lower():
                self.found.append(f"<{tag} {name}={value[:40]}>")
        if (tag == "img" and ("src", "x") in attrs) or (
            tag in ("iframe", "svg", "object", "embed", "script") and MARK in str(attrs)
        ):
            self.found.append(f"<{tag}>")
        if tag == "script":
            self._script = dict(attrs).get("type") or "text/javascript"

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script and "json" not in self._script and MARK in data:
            self.found.append(f"<script>{data[:40]}")


def assert_inert(html: str, where: str) -> None:
    parser = Injected()
    parser.feed(html)
    assert parser.found == [], f"{where}: {parser.found}"


@pytest.mark.parametrize("payload", [*SHORT, "<a href=' JavaScript:x'>", f"<iframe src='{MARK}'>"])
def test_checker_sees_each_payload_when_not_escaped(payload):
    with pytest.raises(AssertionError):
        assert_inert(f"<p>{payload}</p>", "raw")


def test_payloads_are_inert_in_annotator_pages(client):
    study = poisoned_study()
    pages = [client.get(f"/s/{study.slug}/?PROLIFIC_PID=xss-reader", follow=True)]
    pages.append(client.post(f"/s/{study.slug}/consent/", {"decision": "agree"}, follow=True))
    kinds = set()
    for _ in range(6):
        task = client.get(f"/s/{study.slug}/task/", follow=True)
        pages.append(task)
        participant = Participant.objects.get()
        claim = assignment_claim_next(participant=participant)
        if claim.done:
            break
        kinds.add(claim.assignment.item.kind)
        pages.append(client.get(f"/s/{study.slug}/task/", HTTP_HX_REQUEST="true"))
        rating_submit(participant=participant, assignment_id=claim.assignment.pk, **answer_for(claim.assignment, value=2))
    pages.append(client.get(f"/s/{study.slug}/done/"))
    assert kinds == {"single", "pair", "attention"}
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        assert_inert(html, response.request["PATH_INFO"])
    done = pages[-1].content.decode()
    assert "completion-link" not in done and 'http-equiv="refresh"' not in done
    assert "&lt;script&gt;" in done  # the completion code is shown, as text


def test_payloads_are_inert_in_the_admin():
    study = poisoned_study()
    participant = new_participant(study, "xss-admin")
    claim = assignment_claim_next(participant=participant)
    rating_submit(participant=participant, assignment_id=claim.assignment.pk, **answer_for(claim.assignment))
    assignment_claim_next(participant=participant)
    user = get_user_model().objects.create_superuser("xss-admin", password="a-long-password-1")
    client = Client()
    client.force_login(user)
    assert_inert(client.get("/admin/").content.decode(), "/admin/")
    visited = 0
    for model, model_admin in admin.site._registry.items():
        obj = model._default_manager.first()
        for pattern in model_admin.urls:
            if not pattern.name or pattern.name.endswith(("_autocomplete", "_add")):
                continue
            per_object = "object_id" in str(pattern.pattern)
            if per_object and obj is None:
                continue
            try:
                url = reverse(f"admin:{pattern.name}", args=[obj.pk] if per_object else [])
            except NoReverseMatch:
                continue
            response = client.get(url)
            if response.status_code != 200:
                continue
            visited += 1
            assert_inert(response.content.decode(), url)
    assert visited >= 20, visited


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_payloads_do_not_run_in_chromium(live_server, page):  # noqa: F811
    study = poisoned_study()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    def check(where: str) -> None:
        assert page.evaluate("window.__xss") is None, where
        assert page.locator("img[src=x], svg, iframe, b[onmouseover]").count() == 0, where
        for link in page.locator("main a[href]").all():
            assert not (link.get_attribute("href") or "").lower().startswith("javascript:"), where

    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=xss-browser")
    check("consent")
    assert MARK in page.inner_text("main")  # shown, as text
    page.click("button[value=agree]")
    page.wait_for_selector("#start")
    check("instructions")
    for link in page.locator(".prose a:not(#start)").all():
        link.click()  # a javascript: link that survived would run here
    check("instructions after clicks")
    page.click("#start")
    kinds = []
    for _ in range(6):
        page.wait_for_selector("#task, #done-heading")
        if page.locator("#done-heading").count():
            break
        kind = page.get_attribute("#task", "data-kind")
        kinds.append(kind)
        check(f"task ({kind})")
        page.hover(".prompt-text")
        for link in page.locator(".response-text a").all():
            link.click()
        check(f"task ({kind}) after clicks")
        if kind == "pair":
            page.check("input[name=choice][value=left]")
        for group in page.locator("fieldset[data-group=scale]").all():
            group.locator("input[type=radio][value='2']").check()
        old = page.inner_text("#progress-text")
        page.click("#submit")
        page.wait_for_function(
            "(old) => !document.querySelector('#progress-text') || document.querySelector('#progress-text').textContent !== old"
            " || document.querySelector('#done-heading')",
            arg=old,
        )
    page.wait_for_selector("#done-heading")
    check("done")
    assert page.locator("meta[http-equiv=refresh], #completion-link").count() == 0
    assert sorted(set(kinds)) == ["attention", "pair", "single"]
    assert dialogs == []
