"""Guards in front of every view: oversized bodies, rate limits and database outages.

Each answers with an honest status code (413/411, 429, 503) and a ``Retry-After`` where waiting
helps, as JSON for API clients and as a short page for people.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views import defaults

from .ratelimit import SCOPES_BY_VIEW, client_ip, ratelimit_hit

logger = logging.getLogger("annotation.guard")

# Errors that mean "the database is not answering right now" (server restarting, connection
# dropped, SQLite lock timeout), as opposed to a bug: the request may well succeed later.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")


def refusal(
    request: HttpRequest, *, status: int, code: str, message: str, retry_after: int | None = None
) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message, "code": code}, status=status)
    else:
        page = f"<!doctype html><title>{status}</title><h1>{escape(message)}</h1>"
        response = HttpResponse(page, status=status, content_type="text/html; charset=utf-8")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def database_unavailable(request: HttpRequest) -> HttpResponse:
    return refusal(
        request,
        status=503,
        code="database_unavailable",
        message="The service is briefly unavailable. Please try again in a few seconds.",
        retry_after=settings.DATABASE_UNAVAILABLE_RETRY_AFTER,
    )


class RequestBodyLimitMiddleware:
    """Refuse request bodies above the limit before anything reads them.

    Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when a form is parsed; DRF reads
    JSON straight from the stream and would accept any size. The declared length is checked
    here (multipart uploads, admin-only, get their own larger limit), reads never go past the
    declared length (Django's LimitedStream), and a body without a declared length is refused:
    Django would silently read it as empty.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if "HTTP_TRANSFER_ENCODING" in request.META and not declared:
            return refusal(
                request, status=411, code="length_required", message="Send a Content-Length."
            )
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return refusal(
                    request, status=400, code="bad_length", message="Invalid Content-Length."
                )
            multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
            limit = settings.UPLOAD_MAX_BYTES if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and length > limit:
                return refusal(
                    request,
                    status=413,
                    code="too_large",
                    message=f"Request body too large (limit {limit} bytes).",
                )
        return self.get_response(request)


class RateLimitMiddleware:
    """Count POSTs to the views in ``SCOPES_BY_VIEW`` per client IP; 429 beyond the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.resolver_match is None:
            return None
        scope = SCOPES_BY_VIEW.get(request.resolver_match.view_name)
        if scope is None:
            return None
        verdict = ratelimit_hit(scope=scope, ip=client_ip(request))
        if verdict.allowed:
            return None
        logger.warning("rate limit %s exceeded on %s", scope, request.path)
        return refusal(
            request,
            status=429,
            code="rate_limited",
            message="Too many attempts. Please wait a moment and try again.",
            retry_after=verdict.retry_after,
        )


class DatabaseUnavailableMiddleware:
    """A view that hits a database outage answers 503 with Retry-After instead of 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.warning("database unavailable on %s: %s", request.path, type(exception).__name__)
        return database_unavailable(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: outages that surface outside a view (e.g. saving the session) are 503s
    too; everything else is Django's plain 500 page."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    return defaults.server_error(request)
