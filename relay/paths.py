"""Path safety for the relay's `{path}` parameters (CONTRACT.md §4): a path may hold
slashes but must stay under its prefix upstream.

The check runs on every form the path takes on its way: the raw request line
(RAW_URI under gunicorn, when present), PATH_INFO (percent-decoded once by WSGI),
and each further percent-decoding of those, so `%2e%2e` and `%252e%252e` are
caught as surely as `..`. The forwarded path is then rebuilt from the validated,
once-decoded segments, each quoted on its own.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from django.http import HttpRequest

from core.errors import APIError

# Deeper than any honest client encodes; a path still changing after this many
# decodings is refused rather than followed.
MAX_DECODINGS = 4
# RFC 3986 pchar: what a path segment may carry unquoted ("/" is not among them).
SEGMENT_SAFE = "!$&'()*+,;=:@"


def _refuse(why: str) -> APIError:
    return APIError(400, "invalid_request", f"Invalid path: {why}.")


def _check_form(path: str) -> None:
    if "\\" in path:
        raise _refuse("backslashes are not allowed")
    if "\x00" in path:
        raise _refuse("NUL is not allowed")
    segments = path.split("/")
    # A leading slash gives one empty first segment; any other empty one is `//`
    # or a trailing slash.
    for segment in segments[1:] if path.startswith("/") else segments:
        if segment == "":
            raise _refuse("empty segments are not allowed")
        if segment in (".", ".."):
            raise _refuse("dot segments are not allowed")


def _check_all_decodings(path: str) -> None:
    current = path
    for _ in range(MAX_DECODINGS):
        _check_form(current)
        decoded = unquote(current, errors="strict") if "%" in current else current
        if decoded == current:
            return
        current = decoded
    raise _refuse("too many levels of percent-encoding")


def check_request_path(request: HttpRequest) -> None:
    """Refuse (400) a request whose path has dot segments, backslashes, NUL or
    empty segments in any of its forms."""
    django_request = getattr(request, "_request", request)
    forms = [django_request.META.get("PATH_INFO", "")]
    raw_uri = django_request.META.get("RAW_URI") or django_request.META.get("REQUEST_URI")
    if raw_uri:
        forms.append(urlsplit(raw_uri).path)
    try:
        for form in forms:
            _check_all_decodings(form)
    except UnicodeDecodeError:
        raise _refuse("it is not valid UTF-8") from None


def upstream_path(prefix: str, subpath: str) -> str:
    """`prefix` + the validated sub-path, each segment percent-quoted on its own."""
    segments = subpath.split("/")
    try:
        for segment in segments:
            _check_all_decodings(segment)
            if segment == "":
                raise _refuse("empty segments are not allowed")
    except UnicodeDecodeError:
        raise _refuse("it is not valid UTF-8") from None
    return prefix.rstrip("/") + "/" + "/".join(quote(segment, safe=SEGMENT_SAFE) for segment in segments)
