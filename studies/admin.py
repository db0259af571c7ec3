from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from . import admin_views, dashboard, selectors, services
from .models import FoundationModel, Pair, Prompt, Response, Scale, Study, StudyItem


class ScaleInline(admin.TabularInline):
    model = Scale
    extra = 0
    fields = ["order", "key", "question", "min_value", "max_value", "low_anchor", "high_anchor", "applies_to"]


class StudyItemInline(admin.TabularInline):
    model = StudyItem
    extra = 0
    fields = ["kind", "prompt", "response", "pair", "attention_text", "expected_values"]
    raw_id_fields = ["prompt", "response", "pair"]
    show_change_link = True
    classes = ["collapse"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("prompt", "response__model", "pair")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "status", "progress", "ratings_per_item", "items_per_participant", "annotator_link", "dashboard_link"]
    list_filter = ["status"]
    search_fields = ["title", "slug", "description"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["consent_declines", "created_at", "updated_at"]
    inlines = [ScaleInline, StudyItemInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["open_recruitment", "close_recruitment", "build_items", "download_report_bundle"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "status", "description"]}),
        ("Participant-facing texts", {"fields": ["consent_md", "instructions_md"]}),
        (
            "Design",
            {
                "fields": [
                    "ratings_per_item",
                    "items_per_participant",
                    "attention_check_interval",
                    "one_response_per_prompt",
                    "lease_minutes",
                    "random_seed",
                    "exclusion_rules",
                ]
            },
        ),
        ("Recruitment", {"fields": ["recruitment_url", "completion_code", "completion_url", "consent_declines"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Study]:
        return selectors.studies_with_progress(super().get_queryset(request))

    def get_urls(self):
        # before the default URLs, whose "<path:object_id>/" would swallow these
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/import/",
                wrap(lambda request, object_id: admin_views.study_import_view(self, request, object_id)),
                name="studies_study_import",
            ),
            path(
                "<path:object_id>/metrics/",
                wrap(lambda request, object_id: admin_views.study_metrics_view(self, request, object_id)),
                name="studies_study_metrics",
            ),
            # staff-only dashboard and report downloads (studies/dashboard.py)
            path("<int:pk>/dashboard/", wrap(partial(dashboard.dashboard_view, model_admin=self)),
                 name="studies_study_dashboard"),
            path("<int:pk>/report.<str:fmt>", wrap(partial(dashboard.report_view, model_admin=self)),
                 name="studies_study_report"),
            *super().get_urls(),
        ]

    @admin.display(description="Ratings (collected / wanted)", ordering="ratings_collected")
    def progress(self, obj: Study) -> str:
        wanted = getattr(obj, "ratings_wanted", 0) or 0
        done = getattr(obj, "ratings_collected", 0) or 0
        share = f" ({100 * done / wanted:.0f} %)" if wanted else ""
        return f"{done} / {wanted}{share}"

    @admin.display(description="Annotator link")
    def annotator_link(self, obj: Study) -> str:
        url = f"/s/{obj.slug}/"
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj: Study) -> str:
        url = reverse("admin:studies_study_dashboard", args=[obj.pk])
        return format_html('<a href="{}">Dashboard</a>', url)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.study_ensure_default_scales(study=form.instance)

    @admin.action(description="Open recruitment")
    def open_recruitment(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        n = services.studies_set_status(studies=queryset, status=Study.Status.RECRUITING)
        self.message_user(request, f"Recruitment opened for {n} study(ies).", messages.SUCCESS)

    @admin.action(description="Close recruitment")
    def close_recruitment(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        n = services.studies_set_status(studies=queryset, status=Study.Status.CLOSED)
        self.message_user(request, f"Recruitment closed for {n} study(ies).", messages.SUCCESS)

    @admin.action(description="Build items (singles and A/B pairs) from responses")
    def build_items(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            made = services.study_build_items(study=study)
            self.message_user(
                request, f"{study.slug}: {made['singles']} single items, {made['pairs']} pairs added."
            )

    @admin.action(description="Download report bundle (ZIP)")
    def download_report_bundle(
        self, request: HttpRequest, queryset: QuerySet[Study]
    ) -> HttpResponse | None:
        from analysis.pipeline import AnalysisInputError
        from analysis.report import build_bundle

        studies = list(queryset[:2])
        if len(studies) != 1:
            self.message_user(
                request, "Select exactly one study to download its report bundle.", messages.WARNING
            )
            return None
        study = studies[0]
        if problem := dashboard.rules_error(study):
            self.message_user(request, f"{study.slug}: no report: {problem}", messages.ERROR)
            return None
        try:
            report = dashboard.cached_report(study)
            return dashboard.bundle_response(study, build_bundle(study, report=report))
        except AnalysisInputError as exc:
            self.message_user(request, f"{study.slug}: no report yet: {exc}", messages.WARNING)
            return None


@admin.register(FoundationModel)
class FoundationModelAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "version"]
    search_fields = ["name", "provider", "version"]
    list_filter = ["provider"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["model", "condition", "text", "refusal_label", "refusal_score", "labeller", "refusal_style"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("model")


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["short_text", "study", "category", "should_refuse", "prompt_type", "domain", "language", "source", "source_id"]
    list_filter = ["study", "category", "should_refuse", "language", "source", "prompt_type"]
    search_fields = ["text", "source_id", "domain"]
    list_select_related = ["study"]
    inlines = [ResponseInline]

    @admin.display(description="Prompt")
    def short_text(self, obj: Prompt) -> str:
        return obj.text[:90]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "short_prompt", "model", "condition", "refusal_label", "refusal_score", "labeller", "refusal_style"]
    list_filter = ["model", "refusal_label", "refusal_style", "labeller", "prompt__study", "prompt__should_refuse"]
    search_fields = ["text", "prompt__text"]
    list_select_related = ["model", "prompt"]
    raw_id_fields = ["prompt"]

    @admin.display(description="Prompt")
    def short_prompt(self, obj: Response) -> str:
        return obj.prompt.text[:70]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "model_a", "model_b"]
    list_select_related = ["prompt", "response_a__model", "response_b__model"]
    list_filter = ["prompt__study"]
    search_fields = ["prompt__text"]
    raw_id_fields = ["prompt", "response_a", "response_b"]

    @admin.display(description="Model A")
    def model_a(self, obj: Pair) -> str:
        return str(obj.response_a.model)

    @admin.display(description="Model B")
    def model_b(self, obj: Pair) -> str:
        return str(obj.response_b.model)


@admin.register(StudyItem)
class StudyItemAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "kind", "prompt", "response", "pair", "taken"]
    readonly_fields = ["taken"]
    list_filter = ["study", "kind"]
    list_select_related = ["study", "prompt", "response__model", "pair__response_a__model", "pair__response_b__model"]
    raw_id_fields = ["prompt", "response", "pair"]
    search_fields = ["prompt__text", "attention_text"]


@admin.register(Scale)
class ScaleAdmin(admin.ModelAdmin):
    list_display = ["key", "study", "question", "min_value", "max_value", "applies_to", "order"]
    list_filter = ["study", "applies_to"]
    list_select_related = ["study"]
    search_fields = ["key", "question"]

