"""Health check for load balancers and operators: the app is up and its database answers.

Deliberately the cheapest request that still touches the database, so it doubles as the
ceiling the load benchmark compares the annotator path against.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    # A database outage raises here and becomes a 503 (annotation.middleware), which is what
    # a load balancer should see.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"status": "ok"})
