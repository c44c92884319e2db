"""The error envelope of CONTRACT.md §3: `{"error": {"code": ..., "message": ...}}`.

Every error raised under /api/ ends up here: DRF exceptions through
`exception_handler`, Django's 400/403/404/500 through the `handler*` views, and
anything else (405 from plain views, 413) through `APIEnvelopeMiddleware`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions as drf
from rest_framework.response import Response

from .db import forget_idle_connections

log = logging.getLogger("core.errors")

# Status → code used when an exception carries no code of its own.
DEFAULT_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "invalid_request",
    409: "conflict",
    413: "request_too_large",
    415: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "upstream_unavailable",
    504: "upstream_timeout",
}


class APIError(drf.APIException):
    """An error billing answers itself, with its contract code.

    `headers` (e.g. Retry-After) are set on the response.
    """

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status
        self.code = code or DEFAULT_CODES.get(status, "error")
        self.message = message or self.code.replace("_", " ")
        self.headers = headers or {}
        super().__init__(detail=self.message, code=self.code)


def envelope(code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return {"error": body}


def error_response(status: int, code: str | None = None, message: str = "", **extra: Any) -> JsonResponse:
    code = code or DEFAULT_CODES.get(status, "error")
    return JsonResponse(envelope(code, message or code.replace("_", " "), **extra), status=status)


def _flatten(detail: Any) -> str:
    """DRF validation details as one readable sentence: `field: problem; …`."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = _flatten(value)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def _from_django(exc: Exception) -> Exception:
    """Django's own exceptions raised inside a DRF view, as the errors they mean
    (DRF's default handler does this for 404 and 403; ours answers everything)."""
    if isinstance(exc, Ratelimited):  # a PermissionDenied subclass: check it first
        return APIError(429, "rate_limited", "Too many requests; retry after the time in Retry-After.",
                        headers={"Retry-After": str(getattr(exc, "retry_after", 60))})
    if isinstance(exc, Http404):
        return APIError(404, "not_found", "Not found.")
    if isinstance(exc, PermissionDenied):
        return APIError(403, "forbidden", "You may not do that.")
    if isinstance(exc, RequestDataTooBig):
        return APIError(413, "request_too_large", "The request body is too large.")
    if isinstance(exc, SuspiciousOperation):
        return APIError(400, "invalid_request", "The request could not be understood.")
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is restarting or unreachable: a clean, retryable answer, not a
        # 500 with a traceback. The pool's other idle connections are likely dead too:
        # dropped, so that the next request connects afresh.
        log.warning("database unavailable: %s", exc.__class__.__name__)
        forget_idle_connections()
        return APIError(503, "upstream_unavailable", "The service is briefly unavailable; retry shortly.",
                        headers={"Retry-After": "5"})
    return exc


def exception_handler(exc: Exception, context: dict) -> Response:
    request = context.get("request")
    headers: dict[str, str] = {}
    exc = _from_django(exc)
    if isinstance(exc, APIError):
        status, code, message = exc.status_code, exc.code, exc.message
        headers.update(exc.headers)
        fields = None
    elif isinstance(exc, drf.ValidationError):
        status, code, message = 400, "invalid_request", _flatten(exc.detail)
        fields = exc.detail if isinstance(exc.detail, dict) else None
    elif isinstance(exc, drf.Throttled):
        status, code = 429, getattr(exc, "tp_code", "rate_limited")
        message = "Too many requests; retry after the time in Retry-After."
        if exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        fields = None
    elif isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        status, code, message = 401, "unauthenticated", _flatten(exc.detail)
        fields = None
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        code = DEFAULT_CODES.get(status, "error")
        message = _flatten(exc.detail)
        fields = None
    else:
        rid = getattr(getattr(request, "_request", request), "request_id", None)
        log.exception("unhandled error while serving %s", getattr(request, "path", "?"))
        return Response(
            envelope("internal_error", "Something went wrong on our side.", request_id=rid),
            status=500,
        )

    if status == 401:
        auth_header = getattr(exc, "auth_header", None) or 'Bearer realm="api"'
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, drf.MethodNotAllowed):
        allowed = getattr(context.get("view"), "allowed_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    body = envelope(code, message)
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=status, headers=headers)
