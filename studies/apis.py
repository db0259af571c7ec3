"""Researcher API: studies, scales, prompts, responses, items, participants, exports, reports.

Every view here is staff-only through DRF's own token (``Authorization: Token <key>``, made with
``manage.py drf_create_token <username>``) or the admin session. The participant API
(annotation/apis.py) authenticates with ``Bearer`` tokens that map to no Django user, so
nothing here can accept one: a Bearer header is simply no credential to these views.

Views are thin: parse with an input serializer, call one selector or service, render with an
output serializer. Lists are paginated and cost a fixed number of queries per page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from . import selectors, services, uploads
from . import serializers as s
from .models import Study

_NOT_FOUND = OpenApiResponse(
    s.DetailSerializer, description="No study with this slug (or, in a list, no such page)."
)
_INVALID = OpenApiResponse(description="Invalid input: field name → list of messages.")
_AUTH_ERRORS = {
    401: OpenApiResponse(s.DetailSerializer, description="No valid staff token or session."),
    403: OpenApiResponse(s.DetailSerializer, description="Authenticated, but not staff."),
}


def operation(operation_id: str, *, tag: str, responses: Any, **kwargs: Any) -> Any:
    """``extend_schema`` with the answers every researcher view may give."""
    if not isinstance(responses, dict):
        responses = {200: responses}
    return extend_schema(
        operation_id=operation_id, tags=[tag], responses={**responses, **_AUTH_ERRORS}, **kwargs
    )


class ResearcherPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ResearcherApi(GenericAPIView):
    """Base of every researcher view. Authentication and permission are spelt out rather than
    inherited from settings, so that a change of the project's defaults cannot open these."""

    authentication_classes = (TokenAuthentication, SessionAuthentication)
    permission_classes = (IsAdminUser,)
    parser_classes = (JSONParser,)
    pagination_class = ResearcherPagination

    def get_study(self) -> Study:
        return get_object_or_404(Study, slug=self.kwargs["slug"])

    def parse_query(self, serializer_class: type[drf_serializers.Serializer]) -> dict[str, Any]:
        parsed = serializer_class(data=self.request.query_params)
        parsed.is_valid(raise_exception=True)
        return dict(parsed.validated_data)

    def parse_body(self, serializer_class: type[drf_serializers.Serializer], **kwargs: Any) -> dict:
        parsed = serializer_class(data=self.request.data, **kwargs)
        parsed.is_valid(raise_exception=True)
        return dict(parsed.validated_data)

    def page(
        self, queryset: QuerySet, serializer_class: type[drf_serializers.Serializer]
    ) -> Response:
        rows = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(rows, many=True).data)


def _invalid(exc: DjangoValidationError) -> ValidationError:
    """A model's ValidationError from a service, as DRF's 400 with the same field keys (and
    DRF's name for errors of no one field, e.g. a violated constraint)."""
    errors = drf_serializers.as_serializer_error(exc)
    if NON_FIELD_ERRORS in errors:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
    return ValidationError(errors)


# -- studies -----------------------------------------------------------------------------------
class StudyListCreateApi(ResearcherApi):
    """Studies, newest first, with their progress; and creating one (with the default scales)."""

    @operation(
        "studies_list",
        tag="studies",
        parameters=[s.StudyFilterSerializer],
        responses={
            200: s.StudyOutputSerializer(many=True),
            400: _INVALID,
            404: OpenApiResponse(s.DetailSerializer, description="No such page."),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.parse_query(s.StudyFilterSerializer)
        return self.page(selectors.studies_for_api(filters=filters), s.StudyOutputSerializer)

    @operation(
        "study_create",
        tag="studies",
        request=s.StudyCreateInputSerializer,
        responses={201: s.StudyDetailOutputSerializer, 400: _INVALID},
    )
    def post(self, request: Request) -> Response:
        fields = self.parse_body(s.StudyCreateInputSerializer)
        try:
            study = services.study_create(fields=fields)
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        detail = selectors.studies_for_api(detail=True).get(pk=study.pk)
        return Response(s.StudyDetailOutputSerializer(detail).data, status=status.HTTP_201_CREATED)


class StudyDetailUpdateApi(ResearcherApi):
    """One study with its scales and progress; PATCH changes any design field but the slug."""

    @operation(
        "study_detail",
        tag="studies",
        responses={200: s.StudyDetailOutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = get_object_or_404(selectors.studies_for_api(detail=True), slug=slug)
        return Response(s.StudyDetailOutputSerializer(study).data)

    @operation(
        "study_update",
        tag="studies",
        request=s.StudyUpdateInputSerializer,
        responses={200: s.StudyDetailOutputSerializer, 400: _INVALID, 404: _NOT_FOUND},
    )
    def patch(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        fields = self.parse_body(s.StudyUpdateInputSerializer, partial=True)
        try:
            services.study_update(study=study, fields=fields)
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        detail = selectors.studies_for_api(detail=True).get(pk=study.pk)
        return Response(s.StudyDetailOutputSerializer(detail).data)


# -- scales ------------------------------------------------------------------------------------
class ScaleListCreateApi(ResearcherApi):
    """The study's rating scales in display order; and adding one."""

    @operation(
        "scales_list",
        tag="scales",
        responses={200: s.ScaleOutputSerializer(many=True), 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        return self.page(self.get_study().scales.order_by("order", "pk"), s.ScaleOutputSerializer)

    @operation(
        "scale_create",
        tag="scales",
        request=s.ScaleCreateInputSerializer,
        responses={201: s.ScaleOutputSerializer, 400: _INVALID, 404: _NOT_FOUND},
    )
    def post(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        fields = self.parse_body(s.ScaleCreateInputSerializer)
        try:
            scale = services.scale_create(study=study, fields=fields)
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return Response(s.ScaleOutputSerializer(scale).data, status=status.HTTP_201_CREATED)


# -- prompts and responses -----------------------------------------------------------------------
class PromptListApi(ResearcherApi):
    """The study's prompts by id, with the number of responses to each."""

    @operation(
        "prompts_list",
        tag="prompts",
        parameters=[s.PromptFilterSerializer],
        responses={200: s.PromptOutputSerializer(many=True), 400: _INVALID, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        filters = self.parse_query(s.PromptFilterSerializer)
        return self.page(
            selectors.study_prompts(study=study, filters=filters), s.PromptOutputSerializer
        )


class ResponseListApi(ResearcherApi):
    """The study's model responses by id."""

    @operation(
        "responses_list",
        tag="responses",
        parameters=[s.ResponseFilterSerializer],
        responses={200: s.ResponseOutputSerializer(many=True), 400: _INVALID, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        filters = self.parse_query(s.ResponseFilterSerializer)
        return self.page(
            selectors.study_responses(study=study, filters=filters), s.ResponseOutputSerializer
        )


class ResponseBulkUploadApi(ResearcherApi):
    @operation(
        "responses_bulk_upload",
        tag="responses",
        description=(
            "Import prompts (and one model response each) from a JSON array of objects with the "
            "generic importer's keys, all or nothing: when any element is bad, the answer is 400 "
            "listing every bad element by index, and nothing is imported. 201 when something "
            "was created, 200 when everything was already there."
        ),
        parameters=[s.UploadQuerySerializer],
        request=s.UploadElementSerializer(many=True),
        responses={
            200: s.UploadResultSerializer,
            201: s.UploadResultSerializer,
            400: s.UploadFailedSerializer,
            404: _NOT_FOUND,
            409: OpenApiResponse(s.DetailSerializer, description="A concurrent write collided."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        on_duplicate = self.parse_query(s.UploadQuerySerializer)["on_duplicate"]
        elements = request.data
        if not isinstance(elements, list) or not elements:
            return Response(
                {"detail": "Send a non-empty JSON array of objects.", "errors": []},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = uploads.responses_upload(
                study=study, elements=elements, on_duplicate=on_duplicate
            )
        except uploads.UploadFailed as exc:
            errors = [{"index": e.index, "reason": e.reason} for e in exc.errors]
            body = {
                "detail": f"{len(errors)} bad element(s); nothing was imported.",
                "errors": errors,
            }
            return Response(s.UploadFailedSerializer(body).data, status=status.HTTP_400_BAD_REQUEST)
        except uploads.UploadConflict:
            return Response(
                {"detail": "A concurrent write collided; nothing was imported. Retry."},
                status=status.HTTP_409_CONFLICT,
            )
        created = result.prompts_created or result.responses_created
        return Response(
            s.UploadResultSerializer(result).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# -- items -------------------------------------------------------------------------------------
class ItemListApi(ResearcherApi):
    """The study's items (single responses, A/B pairs, attention checks), with ratings counts."""

    @operation(
        "items_list",
        tag="items",
        parameters=[s.ItemFilterSerializer],
        responses={200: s.ItemOutputSerializer(many=True), 400: _INVALID, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        filters = self.parse_query(s.ItemFilterSerializer)
        return self.page(
            selectors.study_items(study=study, filters=filters), s.ItemOutputSerializer
        )


class ItemsBuildApi(ResearcherApi):
    @operation(
        "items_build",
        tag="items",
        description=(
            "Create a single-response item per response and A/B pairs of every two models' "
            "responses to a prompt (studies.services.study_build_items); idempotent."
        ),
        request=s.ItemsBuildInputSerializer,
        responses={200: s.ItemsBuildOutputSerializer, 400: _INVALID, 404: _NOT_FOUND},
    )
    def post(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        options = self.parse_body(s.ItemsBuildInputSerializer)
        made = services.study_build_items(study=study, **options)
        return Response(s.ItemsBuildOutputSerializer(made).data)


# -- participants --------------------------------------------------------------------------------
class ParticipantListApi(ResearcherApi):
    """The study's participants, pseudonymous: no crowd-platform id nor its hash.

    At ``participants/list/`` because ``POST participants/`` is the participant API's entry (a
    house-plan contract), and one URL cannot be served by the two APIs.
    """

    @operation(
        "participants_list",
        tag="participants",
        parameters=[s.ParticipantFilterSerializer],
        responses={200: s.ParticipantOutputSerializer(many=True), 400: _INVALID, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = self.get_study()
        filters = self.parse_query(s.ParticipantFilterSerializer)
        return self.page(
            selectors.study_participants(study=study, filters=filters),
            s.ParticipantOutputSerializer,
        )


# -- files: ratings.csv and the report -------------------------------------------------------------
class IgnoreAcceptNegotiation(DefaultContentNegotiation):
    """File views answer with their file whatever ``Accept`` says, and their errors as JSON;
    without this, DRF would refuse ``Accept: text/csv`` with 406 before the view runs."""

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None):
        return renderers[0], renderers[0].media_type


class FileApi(ResearcherApi):
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = IgnoreAcceptNegotiation


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # research data: no copies in shared caches
    return response


class RatingsCsvApi(FileApi):
    @operation(
        "ratings_csv",
        tag="exports",
        description=(
            "ratings.csv of the house plan (one row per participant × item × scale), streamed "
            "as it is read: memory stays flat however many ratings the study has."
        ),
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: _NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        from analysis.dataset import iter_ratings_csv

        study = self.get_study()
        response = StreamingHttpResponse(
            iter_ratings_csv(study), content_type="text/csv; charset=utf-8"
        )
        return _attachment(response, f"{study.slug}-ratings.csv")


_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_REPORT_ERRORS = {
    400: OpenApiResponse(s.DetailSerializer, description="The study cannot be analysed as asked."),
    404: _NOT_FOUND,
}


class CannotAnalyse(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "cannot_analyse"


class ReportApi(FileApi):
    """Shared by the three report formats: the options, and the errors of analysis."""

    def report(self, study: Study) -> dict[str, Any]:
        """``analysis.report.report_for_study(study, **options)``; AnalysisInputError → 400."""
        return self.report_call("report_for_study", study)

    def report_call(self, name: str, study: Study) -> Any:
        # Imported here, not at module level: the report is heavy (statistics, templates) and
        # only these three views need it.
        from analysis import report
        from analysis.pipeline import AnalysisInputError

        parsed = s.ReportQuerySerializer(data=self.request.query_params)
        parsed.is_valid(raise_exception=True)
        try:
            return getattr(report, name)(study, **parsed.options())
        except AnalysisInputError as exc:
            raise CannotAnalyse(str(exc)) from exc


class ReportJsonApi(ReportApi):
    """The statistical report of the study (analysis.report) as JSON."""

    @operation(
        "report_json",
        tag="report",
        parameters=[s.ReportQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, **_REPORT_ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(self.report(self.get_study()))


class ReportHtmlApi(ReportApi):
    """The statistical report as a self-contained HTML page."""

    @operation(
        "report_html",
        tag="report",
        parameters=[s.ReportQuerySerializer],
        responses={(200, "text/html"): OpenApiTypes.STR, **_REPORT_ERRORS},
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        from analysis import report

        html = report.render_html(self.report(self.get_study()))
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        response["Cache-Control"] = "no-store"
        # The page quotes model output; as a header (not only the page's own <meta>) the policy
        # holds from the first byte: no script, no outside request, whatever the page contains.
        response["Content-Security-Policy"] = _REPORT_CSP
        return response


class ReportZipApi(ReportApi):
    """The report bundle (analysis.report.build_bundle) as a ZIP download."""

    @operation(
        "report_zip",
        tag="report",
        parameters=[s.ReportQuerySerializer],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **_REPORT_ERRORS},
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        study = self.get_study()
        bundle = self.report_call("build_bundle", study)
        response = HttpResponse(bundle, content_type="application/zip")
        return _attachment(response, f"{study.slug}-report.zip")
