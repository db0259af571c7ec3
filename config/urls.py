from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from config.api_docs import docs_view
from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.api_urls")),
    path("api/v1/", include("studies.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", docs_view, name="api-docs"),
    path("", include("annotation.urls")),
]

# A database outage outside a view (e.g. saving the session) is a 503, not a 500.
handler500 = "annotation.middleware.server_error"
