"""URLs of the researcher API, included under ``/api/v1/`` beside the participant API."""

from django.urls import path

from . import apis

urlpatterns = [
    path("studies/", apis.StudyListCreateApi.as_view(), name="api-studies"),
    path("studies/<slug:slug>/", apis.StudyDetailUpdateApi.as_view(), name="api-study"),
    path("studies/<slug:slug>/scales/", apis.ScaleListCreateApi.as_view(), name="api-scales"),
    path("studies/<slug:slug>/prompts/", apis.PromptListApi.as_view(), name="api-prompts"),
    path("studies/<slug:slug>/responses/", apis.ResponseListApi.as_view(), name="api-responses"),
    path(
        "studies/<slug:slug>/responses/bulk/",
        apis.ResponseBulkUploadApi.as_view(),
        name="api-responses-bulk",
    ),
    path("studies/<slug:slug>/items/", apis.ItemListApi.as_view(), name="api-items"),
    path("studies/<slug:slug>/items/build/", apis.ItemsBuildApi.as_view(), name="api-items-build"),
    # not participants/: POST there is the participant API's entry (annotation/api_urls.py)
    path(
        "studies/<slug:slug>/participants/list/",
        apis.ParticipantListApi.as_view(),
        name="api-participants",
    ),
    path("studies/<slug:slug>/ratings.csv", apis.RatingsCsvApi.as_view(), name="api-ratings-csv"),
    path("studies/<slug:slug>/report.json", apis.ReportJsonApi.as_view(), name="api-report-json"),
    path("studies/<slug:slug>/report.html", apis.ReportHtmlApi.as_view(), name="api-report-html"),
    path("studies/<slug:slug>/report.zip", apis.ReportZipApi.as_view(), name="api-report-zip"),
]
