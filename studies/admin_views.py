"""Custom pages of the study admin: the response-file upload and the automated metrics.

Both are thin: the upload calls :func:`studies.importers.responses_import` (the same service as
``import_responses``); the metrics page builds ``responses.csv`` as a frame
(:func:`analysis.dataset.responses_frame`, one query) and hands it to
:func:`analysis.metrics.automated_metrics`. ``StudyAdmin.get_urls`` mounts them at
``<id>/import/`` and ``<id>/metrics/``; the study change page links to them.
"""

from __future__ import annotations

import math

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from .importers import FORMATS, ON_DUPLICATE, FileSource, ImportFailed, responses_import
from .importers.coconot import SETS as COCONOT_SETS
from .importers.orbench import SETS as ORBENCH_SETS
from .models import Response, Study
from .progress import Progress

MAX_ERRORS_SHOWN = 200
METRICS_SHOWN = ("orr", "cr", "trr", "asr", "rs")


def _choices(values, blank: str) -> list[tuple[str, str]]:
    return [("", blank), *((v, v) for v in values)]


class StudyImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or JSON Lines, UTF-8.")
    format = forms.ChoiceField(choices=_choices(FORMATS, "Guess from the file"), required=False)
    on_duplicate = forms.ChoiceField(
        choices=[
            ("skip", "Skip what is already there"),
            ("update", "Update it (overwrite texts and labels)"),
        ],
        initial="skip",
    )
    orbench_set = forms.ChoiceField(
        choices=_choices(sorted(ORBENCH_SETS), "Guess from the file name"),
        required=False,
        label="OR-Bench set",
        help_text="toxic → should_refuse=1; 80k and hard-1k → 0.",
    )
    coconot_set = forms.ChoiceField(
        choices=_choices(sorted(COCONOT_SETS), "Guess from the file name"),
        required=False,
        label="CoCoNot set",
        help_text="contrast → should_refuse=0; original → 1.",
    )

    def clean_on_duplicate(self) -> str:
        value = self.cleaned_data["on_duplicate"]
        assert value in ON_DUPLICATE
        return value


def _quiet_progress(total=None, label=""):
    return Progress(total, label=label, enabled=False)


def _study_or_404(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> Study:
    return get_object_or_404(model_admin.get_queryset(request), pk=object_id)


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, study: Study, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": study,
        "title": title,
        "change_url": reverse("admin:studies_study_change", args=[study.pk]),
    }


def study_import_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str):
    study = _study_or_404(model_admin, request, object_id)
    if not model_admin.has_change_permission(request, study):
        raise PermissionDenied
    form = StudyImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = responses_import(
                source=FileSource(upload.file, upload.name),
                study_slug=study.slug,
                format=form.cleaned_data["format"] or None,
                on_duplicate=form.cleaned_data["on_duplicate"],
                options={
                    "orbench_set": form.cleaned_data["orbench_set"] or None,
                    "coconot_set": form.cleaned_data["coconot_set"] or None,
                },
                progress_factory=_quiet_progress,
            )
        except ImportFailed as exc:
            errors = exc.errors
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            model_admin.message_user(request, f"Imported {upload.name}: {result.summary()}")
            return HttpResponseRedirect(reverse("admin:studies_study_change", args=[study.pk]))
    context = {
        **_context(model_admin, request, study, f"Import responses into {study.slug}"),
        "form": form,
        "errors": errors[:MAX_ERRORS_SHOWN],
        "errors_total": len(errors),
        "errors_hidden": max(0, len(errors) - MAX_ERRORS_SHOWN),
        "formats": FORMATS,
    }
    return TemplateResponse(request, "admin/studies/study/import.html", context)


def _cell(row) -> dict:
    defined = not math.isnan(row["value"])
    return {
        "defined": defined,
        "value": 100 * row["value"] if defined else None,
        "low": 100 * row["ci_low"] if defined and not math.isnan(row["ci_low"]) else None,
        "high": 100 * row["ci_high"] if defined and not math.isnan(row["ci_high"]) else None,
        "k": None if math.isnan(row["k"]) else int(row["k"]),
        "n": int(row["n"]),
        "n_missing": int(row["n_missing"]),
    }


def metrics_rows(table) -> list[dict]:
    """``automated_metrics`` output as one row per model: ``{"model", "cells": [...]}`` with one
    cell per metric of :data:`METRICS_SHOWN`, in that order."""
    cells: dict[str, dict[str, dict]] = {}
    for row in table.to_dict(orient="records"):
        if row["metric"] in METRICS_SHOWN:
            cells.setdefault(row["model"], {})[row["metric"]] = _cell(row)
    return [
        {"model": model, "cells": [by_metric.get(m) for m in METRICS_SHOWN]}
        for model, by_metric in cells.items()
    ]


def study_metrics_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    from analysis.dataset import responses_frame
    from analysis.metrics import METRIC_DEFINITIONS, automated_metrics

    study = _study_or_404(model_admin, request, object_id)
    if not model_admin.has_view_permission(request, study):
        raise PermissionDenied
    partial = request.GET.get("partial", "1") != "0"
    frame = responses_frame(study)
    rows = metrics_rows(automated_metrics(frame, partial_counts=partial)) if len(frame) else []
    labellers = (
        Response.objects.filter(prompt__study=study)
        .values("labeller", "refusal_label")
        .annotate(n=Count("pk"))
        .order_by("labeller", "refusal_label")
    )
    context = {
        **_context(model_admin, request, study, f"Automated metrics of {study.slug}"),
        "rows": rows,
        "metrics": METRICS_SHOWN,
        "definitions": [(m, METRIC_DEFINITIONS[m]) for m in METRICS_SHOWN],
        "partial": partial,
        "labellers": list(labellers),
        "n_responses": len(frame),
    }
    return TemplateResponse(request, "admin/studies/study/metrics.html", context)
