from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.api_urls")),
    path("", include("annotation.urls")),
]

# A database outage outside a view (e.g. saving the session) is a 503, not a 500.
handler500 = "annotation.middleware.server_error"
