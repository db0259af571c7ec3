"""Annotator pages: entry → consent → instructions → task loop (htmx) → completion.

Views parse input, call one service and render; the task page and its `_task.html` partial
are the same template, so htmx swaps and plain form posts show identical content.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from studies.models import Study

from . import errors, selectors, services
from .crowd import crowd_identity
from .identity import external_id_hash
from .markup import render_markdown
from .models import Participant


def _session_key(study: Study) -> str:
    return f"rpl:{study.pk}:participant"


def _pending_key(study: Study) -> str:
    return f"rpl:{study.pk}:pending"


def _current_participant(request: HttpRequest, study: Study) -> Participant | None:
    return selectors.participant_in_study(
        study=study, participant_id=request.session.get(_session_key(study))
    )


def _bind(request: HttpRequest, study: Study, participant: Participant) -> None:
    request.session.cycle_key()
    request.session[_session_key(study)] = participant.pk
    request.session.pop(_pending_key(study), None)


def _message(request: HttpRequest, study: Study | None, heading: str, message: str, status: int = 200) -> HttpResponse:
    context = {"study": study, "heading": heading, "message": message}
    return render(request, "annotation/message.html", context, status=status)


def _closed(request: HttpRequest, study: Study) -> HttpResponse:
    if study.status == Study.Status.DRAFT:
        text = "This study has not started yet. Please come back when it opens."
    else:
        text = "This study is closed and no longer accepts participants. Thank you for your interest."
    return _message(request, study, "This study is not open", text)


def _full(request: HttpRequest, study: Study) -> HttpResponse:
    return _message(
        request,
        study,
        "This study is full",
        "Every item already has all the ratings it needs, so there is nothing left to do. Nothing "
        "about you has been stored. If you came from Prolific or MTurk, please return the study "
        "there. Thank you for your interest.",
    )


def _where_next(study: Study, participant: Participant) -> str:
    if participant.status == Participant.Status.COMPLETED:
        return reverse("annotation:done", args=[study.slug])
    if participant.status == Participant.Status.RETURNED:
        return reverse("annotation:left", args=[study.slug])
    return reverse("annotation:task", args=[study.slug])


@require_http_methods(["GET", "HEAD"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    identity = crowd_identity(request.GET)
    if identity.external_id:
        id_hash = external_id_hash(study_id=study.pk, external_id=identity.external_id)
        participant = services.participant_find(study=study, id_hash=id_hash)
        if participant is not None:
            _bind(request, study, participant)
            return redirect(_where_next(study, participant))
        if not study.is_open:
            return _closed(request, study)
        if not services.study_has_room(study=study):
            return _full(request, study)
        request.session[_pending_key(study)] = {
            "platform": identity.platform,
            "id_hash": id_hash,
            "meta": identity.meta,
        }
        return redirect("annotation:consent", slug=study.slug)
    participant = _current_participant(request, study)
    if participant is not None:
        return redirect(_where_next(study, participant))
    if not study.is_open:
        return _closed(request, study)
    if not services.study_has_room(study=study):
        return _full(request, study)
    request.session[_pending_key(study)] = {"platform": "direct", "id_hash": "", "meta": {}}
    return redirect("annotation:consent", slug=study.slug)


@require_http_methods(["GET", "HEAD", "POST"])
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    participant = _current_participant(request, study)
    if participant is not None:
        return redirect(_where_next(study, participant))
    pending = request.session.get(_pending_key(study))
    if pending is None:
        return redirect("annotation:entry", slug=study.slug)
    if not study.is_open:
        return _closed(request, study)
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision == "decline":
            services.consent_decline(study=study)
            request.session.pop(_pending_key(study), None)
            return _message(
                request,
                study,
                "Thank you",
                "You chose not to take part. Nothing about you has been stored. You can close this page"
                " (on Prolific, please return the study).",
            )
        if decision == "agree":
            try:
                participant, _ = services.participant_enter(
                    study=study,
                    platform=pending["platform"],
                    id_hash=pending["id_hash"],
                    meta=pending["meta"],
                    consent=True,
                )
            except errors.StudyFull:  # filled up while they were reading the consent text
                request.session.pop(_pending_key(study), None)
                return _full(request, study)
            _bind(request, study, participant)
            return redirect("annotation:instructions", slug=study.slug)
    return render(
        request,
        "annotation/consent.html",
        {
            "study": study,
            "consent_html": render_markdown(study.consent_md),
            "consent_url": reverse("annotation:consent", args=[study.slug]),
        },
    )


@require_http_methods(["GET", "HEAD"])
def instructions(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    if _current_participant(request, study) is None:
        return redirect("annotation:entry", slug=study.slug)
    return render(
        request,
        "annotation/instructions.html",
        {
            "study": study,
            "instructions_html": render_markdown(study.instructions_md),
            "task_url": reverse("annotation:task", args=[study.slug]),
        },
    )


def _task_context(study: Study, view: selectors.TaskView, *, posted: dict | None = None, error: str = "", notice: str = "") -> dict:
    posted = posted or {}
    scales = [
        {
            "key": s.key,
            "question": s.question,
            "min_value": s.min_value,
            "max_value": s.max_value,
            "low_anchor": s.low_anchor,
            "high_anchor": s.high_anchor,
            "options": [
                {"value": v, "checked": str(posted.get(f"scale_{s.key}")) == str(v)}
                for v in range(s.min_value, s.max_value + 1)
            ],
        }
        for s in view.scales
    ]
    choice_options = [
        {"value": value, "label": label, "key": key, "checked": posted.get("choice") == value}
        for value, label, key in (("left", "Response A", "a"), ("right", "Response B", "b"), ("tie", "No preference", "n"))
    ]
    return {
        "study": study,
        "task": view,
        "responses": [{"slot": r.slot, "label": r.label, "html": render_markdown(r.text)} for r in view.responses],
        "scales": scales,
        "is_pair": view.kind == "pair",
        "choice_options": choice_options,
        "posted": posted,
        "error": error,
        "notice": notice,
        "task_url": reverse("annotation:task", args=[study.slug]),
        "leave_url": reverse("annotation:leave", args=[study.slug]),
    }


def _render_task(request: HttpRequest, study: Study, context: dict, status: int = 200) -> HttpResponse:
    template = "annotation/_task.html" if request.htmx else "annotation/task.html"
    return render(request, template, context, status=status)


def _done(request: HttpRequest, study: Study) -> HttpResponse:
    url = reverse("annotation:done", args=[study.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _show_next(request: HttpRequest, study: Study, participant: Participant, *, notice: str = "") -> HttpResponse:
    try:
        claim = services.assignment_claim_next(participant=participant)
    except errors.StudyNotOpen:
        return _closed(request, study)
    if claim.done:
        return _done(request, study)
    view = selectors.task_view(assignment=claim.assignment, answered_regular=claim.answered_regular, study=study)
    return _render_task(request, study, _task_context(study, view, notice=notice))


def _form_values(post) -> dict:
    values = {}
    for name, raw in post.items():
        if name.startswith("scale_"):
            values[name.removeprefix("scale_")] = int(raw) if raw.lstrip("-").isdigit() else raw
    return values


@require_http_methods(["GET", "HEAD", "POST"])
def task(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    participant = _current_participant(request, study)
    if participant is None:
        return redirect("annotation:entry", slug=study.slug)
    if participant.status in (Participant.Status.COMPLETED, Participant.Status.RETURNED):
        url = _where_next(study, participant)
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.method != "POST":
        return _show_next(request, study, participant)

    try:
        result = services.rating_submit(
            participant=participant,
            assignment_id=request.POST.get("assignment", ""),
            values=_form_values(request.POST),
            choice=request.POST.get("choice") or None,
        )
    except errors.InvalidSubmission as exc:
        claim = services.assignment_claim_next(participant=participant)
        if claim.done:
            return _done(request, study)
        view = selectors.task_view(assignment=claim.assignment, answered_regular=claim.answered_regular, study=study)
        posted = request.POST.dict() if str(claim.assignment.pk) == request.POST.get("assignment") else {}
        # htmx 2 swaps only 2xx by default; plain posts get the honest status code.
        return _render_task(request, study, _task_context(study, view, posted=posted, error=exc.message), status=200 if request.htmx else 400)
    except errors.StudyNotOpen:
        return _closed(request, study)
    except errors.AnnotationError as exc:
        return _show_next(request, study, participant, notice=exc.message)
    if result.completed:
        return _done(request, study)
    if not request.htmx:
        return redirect("annotation:task", slug=study.slug)
    return _show_next(request, study, participant)


def _safe_redirect(url: str) -> str:
    """The completion URL only if it is a web address: it lands in a link and a meta refresh,
    where a ``javascript:`` URL that slipped past form validation (an import, the API, the
    shell) would run script on this site."""
    return url if urlsplit(url).scheme in ("http", "https") else ""


@require_http_methods(["GET", "HEAD"])
def done(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    participant = _current_participant(request, study)
    if participant is None:
        return redirect("annotation:entry", slug=study.slug)
    if participant.status != Participant.Status.COMPLETED:
        return redirect(_where_next(study, participant))
    return render(
        request,
        "annotation/done.html",
        {
            "study": study,
            "completion_code": study.completion_code,
            "completion_redirect": _safe_redirect(study.completion_url),
        },
    )


@require_POST
def leave(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    participant = _current_participant(request, study)
    if participant is not None:
        services.participant_return(participant=participant)
    return redirect("annotation:left", slug=study.slug)


@require_http_methods(["GET", "HEAD"])
def left(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    return _message(
        request,
        study,
        "You have left the study",
        "Your answers so far are kept and the remaining items go to other participants. "
        "On Prolific, please return the study. You can close this page.",
    )
