"""The OpenAPI schema: valid, warning-free, staff-only; the docs page served without a CDN."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_spectacular_validates_without_warnings(tmp_path):
    # --fail-on-warn: an unannotated view or an unresolvable type fails here.
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/studies/{slug}/responses/bulk/" in text
    assert "/api/v1/participant/next/" not in text  # the researcher API only


def test_schema_is_staff_only(api, anonymous, participant_client, non_staff):
    assert api.get("/api/schema/?format=json").status_code == 200
    for other in (anonymous, participant_client, non_staff):
        assert other.get("/api/schema/").status_code in (401, 403)


def test_schema_documents_every_researcher_operation(api):
    schema = api.get("/api/schema/?format=json").json()
    operations = {
        op["operationId"]: op for methods in schema["paths"].values() for op in methods.values()
    }
    assert len(operations) == 16
    for op in operations.values():
        assert op["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
        assert {"401", "403"} <= set(op["responses"])
    upload = operations["responses_bulk_upload"]
    assert upload["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    assert "text/csv" in operations["ratings_csv"]["responses"]["200"]["content"]


def test_docs_page_loads_swagger_from_the_app_not_a_cdn(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    script = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert script.status_code == 200


@pytest.mark.parametrize("caller", ["anonymous", "participant_client", "non_staff"])
def test_docs_page_sends_everyone_but_staff_to_the_admin_login(caller, request):
    # A page for people, not an API endpoint: a redirect to the login rather than a JSON 401,
    # and nothing of the schema in it (the page fetches the schema, which is staff-only).
    response = request.getfixturevalue(caller).get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/api/docs/")
