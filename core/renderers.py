"""The JSON every DRF view answers with."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers


class _EscapedJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True


class JSONRenderer(renderers.JSONRenderer):
    """DRF's, UTF-8 as before; an answer holding a lone surrogate is written with
    `\\uXXXX` escapes instead. A client may send one (`"\\ud800"` is a legal JSON
    escape), and a refusal that names the value or the field it came in made the answer
    unrenderable: a 500 for bad input, where a 400 was due."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _EscapedJSONRenderer().render(data, accepted_media_type, renderer_context)
