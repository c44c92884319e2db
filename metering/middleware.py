"""Usage recording for every /api/v1/ request (CONTRACT.md §7)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .recording import Stopwatch, is_metered, record


class UsageMiddleware:
    """Just inside the request id and CORS, before any middleware that refuses a request
    (a body not read whole, 413), so it sees the response after every refusal (those,
    429, 402, 403) and DRF's own error handling. Ordinary responses are recorded once built;
    streams when they close, so the record carries the credits annotated during the
    stream and the stream's whole duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_metered(request.path):
            return self.get_response(request)
        watch = Stopwatch()
        try:
            response = self.get_response(request)
        except Exception:
            # Django turns this into a 500 further out; it is still a metered request.
            record(request, 500, watch.started_at, watch.elapsed)
            raise
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            # The server closes the response at the end of the stream or when the client
            # goes away, whether or not the stream ever started (the same hook releases
            # a stream's concurrency slot).
            response._resource_closers.append(
                lambda: record(request, response.status_code, watch.started_at, watch.elapsed)
            )
        else:
            record(request, response.status_code, watch.started_at, watch.elapsed)
        return response

