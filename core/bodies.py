"""Request bodies read whole before Django sees them (CONTRACT.md §4: "a body that
cannot be read whole is refused with 400, never forwarded empty").

Django reads exactly CONTENT_LENGTH bytes of `wsgi.input`, so a chunked body (which
has no Content-Length) reached every view, and Flash, as an empty body: a generation
was run with Flash's defaults instead of what the caller asked for, and a body of any
size got past MAX_REQUEST_BODY_BYTES. And a body that ends before its Content-Length
(the client half-closed, or lied) reached them as the bytes that did arrive: gunicorn's
input and Django's LimitedStream both return a short read without complaint.

`WholeBodies` wraps the WSGI application and, before Django sees the request, reads
the body whole: a chunked one from a server that decodes chunked input and says so
(`wsgi.input_terminated`: gunicorn's gthread and gevent workers), bounded by
MAX_REQUEST_BODY_BYTES, then handed to Django as an ordinary body with its length; one
with a Content-Length up to that limit, checked to be as long as it says (larger ones
are refused with 413 before anything reads them: APIEnvelopeMiddleware). A body it
cannot take whole (too large, cut off, or a server that hands over the raw chunked
stream, such as runserver) is refused by `UnreadableBodyMiddleware`, inside the
middleware stack so that the refusal carries the request id and CORS headers like
every other answer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import error_response
from .middleware import is_api_path

log = logging.getLogger("core.bodies")

# Where WholeBodies leaves its refusal for UnreadableBodyMiddleware: (status, message).
REFUSAL = "core.body_refusal"
_READ_STEP = 64 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _is_chunked(environ: dict[str, Any]) -> bool:
    # With both headers a server either refuses the request (gunicorn) or has already
    # applied Content-Length; only a body without one is left unread by Django.
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH")


def _read_bounded(stream: Any, limit: int) -> bytes | None:
    """The whole of `stream`, or None as soon as it holds more than `limit` bytes."""
    parts, size = [], 0
    while True:
        part = stream.read(min(_READ_STEP, limit + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            return None


def take_chunked_body(environ: dict[str, Any]) -> None:
    """Turn a decoded chunked body into an ordinary one (wsgi.input + CONTENT_LENGTH),
    or record why it cannot be taken; the request then reaches Django with no body."""
    refusal = None
    if not environ.get("wsgi.input_terminated"):
        refusal = (400, "This server cannot read a chunked request body; send it with a Content-Length.")
    else:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            body = _read_bounded(environ["wsgi.input"], limit)
        except Exception as exc:  # the server's chunk decoder: bad chunk sizes, a cut-off body
            log.info("chunked request body could not be read: %s", exc.__class__.__name__)
            refusal = (400, "The chunked request body could not be read whole.")
        else:
            if body is None:
                refusal = (413, f"The request body is larger than {limit} bytes.")
    del environ["HTTP_TRANSFER_ENCODING"]
    if refusal is None:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        environ["wsgi.input"] = io.BytesIO()
        environ["CONTENT_LENGTH"] = "0"
        environ[REFUSAL] = refusal


def _declared_length(environ: dict[str, Any]) -> int:
    """The Content-Length, or 0 when there is none or it is not a number (Django's
    reading, and APIEnvelopeMiddleware's 400, are left to deal with that)."""
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def take_sized_body(environ: dict[str, Any], length: int) -> None:
    """Read a body of Content-Length `length` whole, or record that it ended short;
    a short body reaches Django as no body at all."""
    stream, parts, size = environ["wsgi.input"], [], 0
    try:
        # One read in the normal case: both gunicorn's input and a buffered socket
        # file return `length` bytes unless the body ends before.
        while size < length:
            part = stream.read(length - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
    except Exception as exc:  # the connection failed mid-body
        log.info("request body could not be read: %s", exc.__class__.__name__)
    if size == length:
        environ["wsgi.input"] = io.BytesIO(parts[0] if len(parts) == 1 else b"".join(parts))
        return
    log.info("request body ended after %d of its %d bytes", size, length)
    environ["wsgi.input"] = io.BytesIO()
    environ["CONTENT_LENGTH"] = "0"
    environ[REFUSAL] = (400, f"The request body ended after {size} of the {length} bytes its "
                             "Content-Length announced; it could not be read whole.")


class WholeBodies:
    """WSGI wrapper: see the module docstring."""

    def __init__(self, application: WSGIApp) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _is_chunked(environ):
            take_chunked_body(environ)
        else:
            length = _declared_length(environ)
            if 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                take_sized_body(environ, length)
        return self.application(environ, start_response)


class UnreadableBodyMiddleware:
    """Answers a request whose body WholeBodies could not take: never
    does a view act on an empty body the client did not send."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = request.META.get(REFUSAL)
        if refusal is None:
            return self.get_response(request)
        status, message = refusal
        if is_api_path(request.path):
            return error_response(status, None, message)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
