"""What billing knows about the request it is serving, in one typed object.

Django's request and DRF's wrap each other; middleware sees only Django's, the
authentication and the views DRF's. `context(request)` takes either and returns the
one `RequestContext` of the request, made on first use: the authentication writes who
the caller is, the admission what the limits decided, the view what the request cost,
and the middleware read it all on the way out (rate-limit headers, the slot's release,
the usage record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .credentials import Credential


@dataclass(eq=False)
class RequestContext:
    # Who is calling: set by the authentication (gateway/authentication.py) or, in the
    # portal, by its sign-in guard.
    account: Any = None  # accounts.models.Account
    credential: Credential | None = None
    # The bearer authentication ran (whatever it concluded): the usage record of a
    # request refused before it ran looks the caller's key up itself.
    authenticated: bool = False
    # The credential was refused: the 401's WWW-Authenticate says invalid_token.
    invalid_token: bool = False
    # What the round trip before the view decided (gateway.admission.Admission), and the
    # X-RateLimit-* headers the throttle computed from it.
    admission: Any = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    # What the request cost, for its usage record: set by the view (the relay).
    preset: str | None = None
    credits_spent: int = 0
    # A generation: its response carries X-Credits-Spent, and X-Budget-Remaining for a
    # key with a budget (gateway.middleware; the figure the reservation saw, if any).
    generation: bool = False
    budget_remaining: int | None = None

    @property
    def api_key(self) -> Any:
        """The API key the caller used (apikeys.models.APIKey), if it used one."""
        return self.credential.api_key if self.credential is not None else None


def context(request: Any) -> RequestContext:
    """The context of a Django or DRF request, made on first use."""
    django_request = getattr(request, "_request", request)
    try:
        return django_request.ctx
    except AttributeError:
        django_request.ctx = RequestContext()
        return django_request.ctx


def client_ip(request: HttpRequest | Any) -> str:
    """REMOTE_ADDR, or the configured trusted proxy header. Of a list
    (X-Forwarded-For) the last entry is the one the trusted proxy appended; the
    ones before it are whatever the client claimed."""
    meta = request.META
    header = settings.TRUSTED_PROXY_IP_HEADER
    if header and meta.get(header):
        return meta[header].split(",")[-1].strip()
    return meta.get("REMOTE_ADDR", "") or "unknown"
