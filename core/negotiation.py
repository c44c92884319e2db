"""Content negotiation that never answers 406: an API gateway's answers are JSON (or
a relayed upstream body, or an event stream), whatever a client's Accept says.

SSE clients send `Accept: text/event-stream`, browsers `text/html`; refusing them
with 406 would break the stream endpoint and help nobody."""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class FallbackContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise  # an explicit ?format= the view cannot give is a real client error
            return renderers[0], renderers[0].media_type
