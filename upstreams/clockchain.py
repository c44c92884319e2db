"""The one place that talks to Clockchain: public browse/search reads relayed with
billing's service key (Clockchain has no notion of billing's users)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from . import transport

SERVICE = "Clockchain"
_session = transport.pool_manager()


def relay(request: Any, path: str) -> transport.UpstreamResponse:
    """GET Clockchain `path` (already validated and quoted) with the client's query
    string unchanged."""
    django_request = getattr(request, "_request", request)
    query = django_request.META.get("QUERY_STRING", "")
    url = settings.CLOCKCHAIN_URL.rstrip("/") + path + (f"?{query}" if query else "")
    return transport.send(
        _session,
        SERVICE,
        "GET",
        url,
        timeout=(settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT),
        headers=transport.outgoing_headers(request, {"X-Service-Key": settings.CLOCKCHAIN_SERVICE_KEY}),
    )
