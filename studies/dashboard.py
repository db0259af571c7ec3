"""The staff-only study dashboard and report downloads, mounted as admin URLs of StudyAdmin.

Live numbers (items by ratings received, participants by status) cost a fixed handful of
queries. Anything that needs the analysis — the participant flow, reliability, the report — is
cached per study and *data fingerprint* (ratings count and newest rating, participants by
status, the study's last change), so a page load never re-runs an analysis on unchanged data
and any new rating invalidates it. ``?refresh=1`` rebuilds (e.g. after relabelling responses,
which the fingerprint does not see).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from .models import Study, StudyItem

CACHE_SECONDS = 24 * 3600
DASHBOARD_N_BOOT = 200  # enough for a live α interval; the report uses the full count
REPORT_FORMATS = ("html", "json", "zip")


# -- live numbers (bounded queries) ---------------------------------------------------------
def item_rating_histogram(study: Study) -> dict[str, Any]:
    """Regular items by answered ratings: ``{"buckets": [{ratings, label, items}], "by_kind":
    {kind: Counter}, "collected", "wanted"}`` (one query)."""
    quota = study.ratings_per_item
    rows = (
        StudyItem.objects.filter(study=study)
        .exclude(kind=StudyItem.Kind.ATTENTION)
        .annotate(n=Count("ratings"))
        .values_list("kind", "n")
    )
    by_kind: dict[str, Counter] = {}
    for kind, n in rows:
        by_kind.setdefault(kind, Counter())[min(n, quota + 1)] += 1
    total = Counter()
    for counts in by_kind.values():
        total.update(counts)
    levels = list(range(quota + 1)) + ([quota + 1] if total.get(quota + 1) else [])
    label = {k: str(k) for k in range(quota + 1)} | {quota + 1: f">{quota}"}
    n_items = sum(total.values())
    collected = sum(k * v for k, v in total.items())  # over-quota items count as quota + 1
    return {
        "quota": quota,
        "levels": [label[k] for k in levels],
        "buckets": [{"ratings": k, "label": label[k], "items": total.get(k, 0)} for k in levels],
        "by_kind": [
            {"kind": kind, "counts": [counts.get(k, 0) for k in levels],
             "items": sum(counts.values())}
            for kind, counts in sorted(by_kind.items())
        ],
        "n_items": n_items,
        "complete_items": sum(v for k, v in total.items() if k >= quota),
        "collected": collected,
        "wanted": n_items * quota,
    }


def live_counts(study: Study) -> dict[str, Any]:
    """Participants by status, ratings and open reservations (three queries)."""
    from annotation.models import Assignment, Participant, Rating

    statuses = dict(
        Participant.objects.filter(study=study).values_list("status").annotate(n=Count("pk"))
    )
    ratings = Rating.objects.filter(item__study=study).aggregate(n=Count("pk"), last=Max("pk"))
    open_now = Assignment.objects.filter(
        item__study=study, status=Assignment.Status.RESERVED, expires_at__gt=timezone.now()
    ).count()
    return {
        "participants": {s: statuses.get(s, 0) for s in Participant.Status.values},
        "n_participants": sum(statuses.values()),
        "consent_declines": study.consent_declines,
        "ratings": ratings["n"],
        "last_rating": ratings["last"],
        "open_reservations": open_now,
    }


def data_fingerprint(study: Study, counts: dict[str, Any]) -> str:
    """Changes whenever a rating arrives, a participant changes status or the study is saved."""
    parts = (
        study.pk, counts["ratings"], counts["last_rating"], sorted(counts["participants"].items()),
        study.consent_declines, study.updated_at.isoformat() if study.updated_at else "",
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


# -- cached analysis --------------------------------------------------------------------------
def analysis_summary(study: Study, *, fingerprint: str, refresh: bool = False) -> dict[str, Any]:
    """Participant flow and reliability per scale (small bootstrap), cached per fingerprint."""
    key = f"rpl:dashboard:{study.pk}:{fingerprint}"
    if not refresh and (hit := cache.get(key)) is not None:
        return hit
    from analysis import dataset
    from analysis.pipeline import select_rows
    from analysis.reliability import reliability_report

    summary: dict[str, Any] = {"flow": dataset.study_flow(study), "reliability": None}
    ratings = dataset.study_frames(study)["ratings"]
    if not ratings.empty:
        kept, _ = select_rows(ratings)
        kept = kept[kept["item_kind"].astype(str) != "pair"]
        if not kept.empty:
            summary["reliability"] = reliability_report(
                kept, n_boot=DASHBOARD_N_BOOT, seed=study.random_seed
            )
    summary["computed_at"] = timezone.now().isoformat(timespec="seconds")
    cache.set(key, summary, CACHE_SECONDS)
    return summary


def cached_report(study: Study, *, refresh: bool = False, **options: Any) -> dict[str, Any]:
    """``report_for_study(study, **options)``, cached per data fingerprint and options."""
    from analysis.report import report_for_study

    fingerprint = data_fingerprint(study, live_counts(study))
    key = f"rpl:report:{study.pk}:{fingerprint}:{sorted(options.items())!r}"
    key = f"rpl:report:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    if not refresh and (hit := cache.get(key)) is not None:
        return hit
    report = report_for_study(study, **options)
    cache.set(key, report, CACHE_SECONDS)
    return report


def report_options(request: HttpRequest) -> dict[str, Any]:
    """``n_boot`` (0–10,000) and ``include_excluded`` from the query string; bad values 404."""
    options: dict[str, Any] = {}
    if "n_boot" in request.GET:
        try:
            options["n_boot"] = int(request.GET["n_boot"])
        except ValueError as exc:
            raise Http404("n_boot must be a whole number") from exc
        if not 0 <= options["n_boot"] <= 10_000:
            raise Http404("n_boot must be between 0 and 10000")
    if request.GET.get("include_excluded") in ("1", "true"):
        options["include_excluded"] = True
    return options


def rules_error(study: Study) -> str:
    """Why the study's stored exclusion rules cannot be applied, or "" when they can."""
    from analysis.exclusions import ExclusionRules

    try:
        ExclusionRules.from_dict(study.exclusion_rules)
    except (TypeError, ValueError) as exc:
        return f"the study's exclusion rules cannot be applied: {exc}"
    return ""


# -- views (wrapped by admin_site.admin_view in StudyAdmin.get_urls) --------------------------
def _study_for(request: HttpRequest, model_admin: Any, pk: int) -> Study:
    study = Study.objects.filter(pk=pk).first()
    if study is None:
        raise Http404("no such study")
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    return study


def dashboard_view(request: HttpRequest, pk: int, *, model_admin: Any) -> HttpResponse:
    from analysis.report.svg import quota_histogram

    study = _study_for(request, model_admin, pk)
    histogram = item_rating_histogram(study)
    counts = live_counts(study)
    problem = rules_error(study)
    summary = {"flow": None, "reliability": None, "computed_at": None} if problem else (
        analysis_summary(study, fingerprint=data_fingerprint(study, counts),
                         refresh=request.GET.get("refresh") == "1")
    )
    report_url = reverse("admin:studies_study_report", args=[study.pk, "html"])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Study._meta,
        "study": study,
        "title": f"Dashboard: {study.title}",
        "histogram": histogram,
        "histogram_svg": mark_safe(quota_histogram(histogram["buckets"], quota=histogram["quota"]))
        if histogram["n_items"] else "",
        "share": round(100 * histogram["collected"] / histogram["wanted"]) if histogram["wanted"] else 0,
        "counts": counts,
        "flow": summary["flow"],
        "reliability": (summary["reliability"] or {}).get("scales") or [],
        "computed_at": summary["computed_at"],
        "problem": problem,
        "links": {fmt: reverse("admin:studies_study_report", args=[study.pk, fmt])
                  for fmt in REPORT_FORMATS},
        "report_url": report_url,
    }
    return TemplateResponse(request, "admin/studies/study/dashboard.html", context)


def report_view(request: HttpRequest, pk: int, fmt: str, *, model_admin: Any) -> HttpResponse:
    from analysis.pipeline import AnalysisInputError
    from analysis.report import build_bundle, render_html
    from analysis.report.bundle import report_json

    if fmt not in REPORT_FORMATS:
        raise Http404("unknown report format")
    study = _study_for(request, model_admin, pk)
    if problem := rules_error(study):
        if fmt == "json":
            return JsonResponse({"error": problem}, status=409)
        messages.error(request, f"No report: {problem}")
        return redirect("admin:studies_study_dashboard", study.pk)
    try:
        report = cached_report(study, refresh=request.GET.get("refresh") == "1",
                               **report_options(request))
    except AnalysisInputError as exc:
        if fmt == "json":
            return JsonResponse({"error": str(exc)}, status=409)
        messages.warning(request, f"No report yet: {exc}")
        return redirect("admin:studies_study_dashboard", study.pk)
    if fmt == "json":
        return HttpResponse(report_json(report), content_type="application/json; charset=utf-8")
    if fmt == "zip":
        return bundle_response(study, build_bundle(study, report=report))
    response = HttpResponse(render_html(report), content_type="text/html; charset=utf-8")
    # The page is self-contained: forbid everything but its inline styles.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def bundle_response(study: Study, payload: bytes) -> HttpResponse:
    response = HttpResponse(payload, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-report.zip"'
    return response
