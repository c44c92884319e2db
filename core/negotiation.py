"""Content negotiation that never answers 406: an API gateway's answers are JSON (or
a relayed upstream body, or an event stream), whatever a client's Accept says.

SSE clients send `Accept: text/event-stream`, browsers `text/html`; refusing them
with 406 would break the stream endpoint and help nobody."""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class FallbackContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        # What nearly every API client sends (no Accept, */*, or the one media type), to
        # a view with one renderer: the answer DRF would reach, without parsing the
        # header (2 % of a relayed read's CPU). Anything else (parameters such as
        # `indent`, ?format=, several renderers) goes the whole way.
        if (len(renderers) == 1 and not format_suffix
                and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", renderers[0].media_type)
                and self.settings.URL_FORMAT_OVERRIDE not in request.query_params):
            return renderers[0], renderers[0].media_type
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise  # an explicit ?format= the view cannot give is a real client error
            return renderers[0], renderers[0].media_type


class _NoFormatOverride:
    """DRF settings as the negotiation reads them, without a `?format=` override."""

    URL_FORMAT_OVERRIDE = None


class RelayedQueryNegotiation(FallbackContentNegotiation):
    """For the relay's views: the query string is the upstream's and passes through
    unchanged (CONTRACT.md §4), `format` included; read as DRF's format override it
    would answer 404 for `?format=csv` without asking the upstream."""

    settings = _NoFormatOverride
