"""The one place that talks to Flash. Every Flash shape the memos don't document
lives here, read tolerantly (extra fields are ignored)."""

from __future__ import annotations

import logging

from django.conf import settings

from . import upstream

log = logging.getLogger("relay.flash")

SERVICE = "Flash"
_session = upstream.pooled_session()


def _url(path: str) -> str:
    return settings.FLASH_URL.rstrip("/") + path


def _read_timeout() -> tuple[float, float]:
    return (settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT)


def resolve_user(external_id: str, email: str = "", display_name: str = "") -> str:
    """Find-or-create Flash's user for an external identity; returns Flash's user_id."""
    body: dict[str, str] = {"external_id": external_id}
    if email:
        body["email"] = email
    if display_name:
        body["display_name"] = display_name
    response = upstream.send(
        _session,
        SERVICE,
        "POST",
        _url("/api/v1/users/resolve"),
        timeout=_read_timeout(),
        json=body,
        headers={"X-Service-Key": settings.FLASH_SERVICE_KEY},
    )
    if response.status_code >= 400:
        log.error("Flash users/resolve answered %s", response.status_code)
        raise upstream.failed(SERVICE)
    try:
        user_id = response.json()["user_id"]
    except (ValueError, KeyError, TypeError):
        log.error("Flash users/resolve answered without a user_id")
        raise upstream.failed(SERVICE) from None
    return str(user_id)
