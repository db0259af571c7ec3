"""The OpenAPI schema and its docs page: staff-only, the researcher API only, no CDN.

Why staff-only: the project is open source, so the schema reveals nothing secret, but a deployed
instance has no reason to advertise its researcher surface; the people who use it are staff who
already log in to the admin, and the docs page authenticates with that session.

Why the researcher API only: the participant API (annotation/apis.py) has no serializers for
drf-spectacular to read, so it would appear untyped and fail ``--fail-on-warn``; it is
documented in the README, as a house-plan contract.

Swagger UI's scripts and styles are served by the app itself (drf-spectacular-sidecar, see
``SWAGGER_UI_DIST`` in settings): the default CDN does not work offline and tells a third party
which researchers open the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from drf_spectacular.views import SpectacularSwaggerView


def researcher_endpoints_only(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """drf-spectacular preprocessing hook: keep the views of the researcher API."""
    from studies.apis import ResearcherApi

    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if issubclass(getattr(callback, "cls", object), ResearcherApi)
    ]


# A person opening the page without a staff session is sent to the admin login and back,
# rather than shown a JSON 403.
docs_view = staff_member_required(
    SpectacularSwaggerView.as_view(url_name="api-schema"), login_url="admin:login"
)
