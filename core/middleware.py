"""Request ids, the JSON envelope for everything under /api/, and messages built on first use."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty

from .errors import DEFAULT_CODES, error_response
from .logs import request_id_var

_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def mark_relayed(response: HttpResponseBase) -> HttpResponseBase:
    """An upstream's answer, to be sent as it is: APIEnvelopeMiddleware leaves it
    alone, 4xx included (CONTRACT.md §3)."""
    response.relayed = True
    return response


def is_relayed(response: HttpResponseBase) -> bool:
    return getattr(response, "relayed", False)


def request_id_of(request: HttpRequest) -> str:
    """The client's X-Request-ID when well-formed, else a new one. Read from META:
    `request.headers` builds a dict of every header first."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if _WELL_FORMED_ID.match(given) else uuid.uuid4().hex


class RequestIDMiddleware:
    """Take the client's X-Request-ID when well-formed, make one otherwise; put it on
    every log line of the request and on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.request_id = request_id_of(request)
        # Not reset on the way out: Django logs a failed response ("Internal Server
        # Error: …") after the middleware returns, and a streamed response logs while it
        # is being sent. `request_finished` (the response closed) forgets it.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _forget_request_id(**kwargs: object) -> None:
    request_id_var.set("-")


request_started.connect(_forget_request_id, dispatch_uid="core.request_id.started")
request_finished.connect(_forget_request_id, dispatch_uid="core.request_id.finished")


class APIEnvelopeMiddleware:
    """Under /api/: refuse oversized bodies before anything reads them, and turn any
    non-JSON error page (405 of a plain view, CSRF failure, …) into the envelope.
    Upstream answers relayed as they are (`mark_relayed`) are left alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path):
            return self.get_response(request)
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            too_big = int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        except ValueError:
            return error_response(400, "invalid_request", "Content-Length is not a number.")
        if too_big:
            return error_response(
                413,
                "request_too_large",
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            )
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not is_relayed(response)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            replacement = error_response(status, DEFAULT_CODES.get(status, "error"))
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response


class MessagesWhenUsedMiddleware(MessageMiddleware):
    """Django's messages (the portal's and the admin's notices), their storage built
    when a view or template first uses it: an API request never does, and building it
    (a cookie signer and a session storage) cost 1 % of a relayed read's CPU."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never used: nothing to store
        return super().process_response(request, response)
