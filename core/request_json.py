"""The one reader of JSON request bodies: DRF's parser (settings.REST_FRAMEWORK) and
every view that decodes a body itself (the relay's generation checks, the Stripe
webhook) go through `loads`.

Bad JSON of any kind is a ValueError (400 `invalid_request`), whatever the decoder
raises: a deeply nested body used to be a RecursionError, i.e. a 500. Nesting is
also capped well below the interpreter's recursion limit, because a body that
decodes at a depth of a few hundred still breaks whatever walks it afterwards
(repr in a validation message, json.dumps when it is stored).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Deeper than any body the API takes; serde_json's default recursion limit.
MAX_DEPTH = 128


class InvalidJSON(ValueError):
    """The body is not JSON billing will act on; the message says why."""


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON (RFC 8259), though Python's decoder takes them.
    raise InvalidJSON(f"{name} is not a JSON value.")


def _too_deep(value: Any) -> bool:
    # Iterative: a recursive walk would fail on the very input it is checking.
    pending = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        container, depth = pending.pop()
        if depth > MAX_DEPTH:
            return True
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, (dict, list)):
                pending.append((item, depth + 1))
    return False


def loads(data: bytes | str, encoding: str = "utf-8") -> Any:
    """The decoded body; InvalidJSON when it is not valid JSON, not text in
    `encoding`, or nested deeper than MAX_DEPTH."""
    try:
        text = data.decode(encoding) if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_refuse_constant)
    except InvalidJSON:
        raise
    except RecursionError:
        raise InvalidJSON(f"The JSON is nested deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, LookupError) as exc:  # JSONDecodeError, UnicodeDecodeError, an unknown encoding
        raise InvalidJSON(str(exc)) from None
    if _too_deep(value):
        raise InvalidJSON(f"The JSON is nested deeper than {MAX_DEPTH} levels.")
    return value


def is_storable(text: str) -> bool:
    """Whether PostgreSQL can keep `text` as it is: no NUL character (text and jsonb
    hold none) and a UTF-8 form (a lone surrogate, a legal JSON escape "\\ud800", has
    none)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> str:
    """`text` as PostgreSQL can keep it: without NUL characters (text and jsonb hold
    none) and lone surrogates (no UTF-8 form), both of which a client may send as JSON
    escapes."""
    return text.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser reading through `loads`."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read(), encoding)
        except InvalidJSON as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
