from django.urls import path

from . import apis

urlpatterns = [
    path("studies/<slug:slug>/participants/", apis.ParticipantCreateApi.as_view(), name="participant-create"),
    path("participant/next/", apis.NextItemApi.as_view(), name="participant-next"),
    path("participant/ratings/", apis.RatingSubmitApi.as_view(), name="participant-rating"),
    path("participant/return/", apis.ReturnApi.as_view(), name="participant-return"),
]
