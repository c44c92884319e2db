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


class GrantRefused(Exception):
    """Flash answered the admin grant with a 4xx: it definitely did not apply it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Flash refused the grant ({status}): {detail}")
        self.status = status


def grant(user_id: str, amount: int, transaction_type: str, description: str,
          timeout: tuple[float, float] | None = None) -> dict:
    """Flash's admin grant (seeds/001 §4). Raises GrantRefused on a 4xx, an
    UpstreamError on a 5xx or a transport failure (outcome unknown)."""
    response = upstream.send(
        _session,
        SERVICE,
        "POST",
        _url("/api/v1/credits/admin/grant"),
        timeout=timeout or _read_timeout(),
        json={"user_id": user_id, "amount": amount, "transaction_type": transaction_type,
              "description": description},
        headers={"X-Admin-Key": settings.FLASH_ADMIN_KEY},
    )
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        try:
            detail = str(response.json().get("detail", ""))[:200]
        except (ValueError, AttributeError):
            detail = ""
        raise GrantRefused(response.status_code, detail)
    if response.status_code >= 400:
        log.warning("Flash admin grant answered %s", response.status_code)
        raise upstream.failed(SERVICE)
    try:
        body = response.json()
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def history(user_id: str, limit: int = 100, offset: int = 0) -> list[dict]:
    """One page of the user's credit transactions, newest first."""
    response = upstream.send(
        _session,
        SERVICE,
        "GET",
        _url("/api/v1/credits/history"),
        timeout=_read_timeout(),
        params={"limit": limit, "offset": offset},
        headers={"X-Service-Key": settings.FLASH_SERVICE_KEY, "X-User-ID": user_id},
    )
    if response.status_code >= 400:
        log.warning("Flash credits/history answered %s", response.status_code)
        raise upstream.failed(SERVICE)
    try:
        entries = response.json().get("transactions", [])
    except (ValueError, AttributeError):
        raise upstream.failed(SERVICE) from None
    return entries if isinstance(entries, list) else []
