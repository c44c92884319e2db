"""Usage recording for every /api/v1/ request (CONTRACT.md §7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .recording import Stopwatch, is_metered, record


class UsageMiddleware:
    """Last in MIDDLEWARE, so it sees the response after every refusal (429, 402,
    403) and DRF's own error handling. Ordinary responses are recorded once built;
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
            response.streaming_content = _recorded_when_closed(
                response.streaming_content, request, response.status_code, watch
            )
        else:
            record(request, response.status_code, watch.started_at, watch.elapsed)
        return response


def _recorded_when_closed(
    chunks: Iterator[bytes], request: HttpRequest, status_code: int, watch: Stopwatch
) -> Iterator[bytes]:
    # Runs at the end of the stream or, on a client disconnect, when the server
    # closes the response (Django closes the iterator then).
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        record(request, status_code, watch.started_at, watch.elapsed)
