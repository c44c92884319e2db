"""Health checks, the API reference page, and the error handlers Django calls outside DRF."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularRedocView
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.request import Request
from rest_framework.response import Response

from core.db import forget_idle_connections
from core.errors import error_response
from core.middleware import is_api_path

log = logging.getLogger(__name__)

# Redoc needs its own inline styles (styled-components) and a blob: worker for search;
# nothing else than this origin's script, schema and images.
API_REFERENCE_CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])


class APIReferenceView(SpectacularRedocView):
    """/api/v1/docs/: Redoc from drf-spectacular-sidecar (no CDN: works offline), with a
    page that has no inline script, under API_REFERENCE_CSP."""

    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = API_REFERENCE_CSP
        return response


_STATUS = inline_serializer("Health", {"status": serializers.CharField()})


@extend_schema(responses={200: _STATUS}, tags=["health"], summary="Liveness",
               description="Answers `{\"status\": \"ok\"}` while the service runs; touches nothing else.")
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def health(request: Request) -> Response:
    """Liveness: answers without touching the database or the cache. HEAD too, as many
    uptime monitors probe (a function view names every method it answers)."""
    return Response({"status": "ok"})


@extend_schema(
    responses={
        200: inline_serializer("Ready", {"status": serializers.CharField(), "checks": serializers.DictField()}),
        503: inline_serializer("NotReady", {"status": serializers.CharField(), "checks": serializers.DictField()}),
    },
    tags=["health"],
    summary="Readiness",
    description="200 when the database and the cache both answer, else 503 naming the one that does not.",
    examples=[OpenApiExample("Ready", response_only=True, value={
        "status": "ok", "checks": {"database": "ok", "cache": "ok"}})],
)
@api_view(["GET", "HEAD"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def ready(request: Request) -> Response:
    """Readiness: the database and the cache both answer."""
    checks = {"database": "ok", "cache": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; say which
        log.warning("readiness: database check failed: %s", exc.__class__.__name__)
        checks["database"] = "unavailable"
        forget_idle_connections()
    try:
        probe = f"health:{uuid.uuid4().hex}"
        cache.set(probe, "1", 5)
        if cache.get(probe) != "1":
            raise RuntimeError("cache did not keep a value")
        cache.delete(probe)
    except Exception as exc:
        log.warning("readiness: cache check failed: %s", exc.__class__.__name__)
        checks["cache"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(400, "invalid_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(403, "forbidden", "You may not do that.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(404, "not_found", "No such endpoint.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return JsonResponse(
            {
                "error": {
                    "code": "internal_error",
                    "message": "Something went wrong on our side.",
                    "request_id": getattr(request, "request_id", None),
                }
            },
            status=500,
        )
    return defaults.server_error(request)
