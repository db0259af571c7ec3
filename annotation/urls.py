from django.urls import path

from . import views

app_name = "annotation"

urlpatterns = [
    path("s/<slug:slug>/", views.entry, name="entry"),
    path("s/<slug:slug>/consent/", views.consent, name="consent"),
    path("s/<slug:slug>/instructions/", views.instructions, name="instructions"),
    path("s/<slug:slug>/task/", views.task, name="task"),
    path("s/<slug:slug>/done/", views.done, name="done"),
    path("s/<slug:slug>/leave/", views.leave, name="leave"),
    path("s/<slug:slug>/left/", views.left, name="left"),
]
