"""Start-up checks of the gateway's configuration (`manage.py check`, also run by
migrate, Railway's pre-deploy command)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, register
from django.core.checks import Warning as CheckWarning


@register()
def client_ip_behind_railway(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """Behind Railway's edge proxy every request comes from the proxy's address, so
    without TRUSTED_PROXY_IP_HEADER the per-IP limits count all clients as one: 100
    failed authentications a minute from anyone would refuse everyone's requests, and
    five failed sign-ins would lock every operator out."""
    if settings.PRODUCTION and settings.RAILWAY_PUBLIC_DOMAIN and not settings.TRUSTED_PROXY_IP_HEADER:
        return [CheckWarning(
            "TRUSTED_PROXY_IP_HEADER is not set behind Railway's proxy: every client has the proxy's address, "
            "so failed authentications and sign-ins from one client are counted against all of them.",
            hint="Set TRUSTED_PROXY_IP_HEADER to the META name of the header Railway's proxy sets "
                 "(HTTP_X_REAL_IP or HTTP_X_FORWARDED_FOR; docs/security.md).",
            id="gateway.W001")]
    return []
