"""Brute-force limits on signing in to the admin and the portal: django-axes, counting
failures per client IP and per username in the shared cache (Redis in production),
so that every worker and instance counts together. Settings: `AXES_*` in
timepoint_billing/settings.py.

- Admin sign-in goes through Django's `authenticate()`, which axes watches as it is.
- Portal sign-in is social-auth's Auth0 round trip: its failures (a forged or replayed
  callback, a wrong `state`, a refused code or id_token) are raised before
  `authenticate()` is ever called, so `SignInFailureMiddleware` reports them to axes
  as failed sign-ins of the client IP, and refuses a locked-out IP the round trip.
- The API's Bearer authentication is DRF's and never calls `authenticate()`: axes
  does not see it (it has its own per-IP failed-authentication limit, limits/failures.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from axes.handlers.cache import AxesCacheHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_lockout_response
from axes.models import AccessBase
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from social_core.exceptions import AuthException, AuthProviderError
from social_django.middleware import SocialAuthExceptionMiddleware

from core.cache import quietly
from core.errors import error_response
from core.middleware import is_api_path

# A portal sign-in names no username (Auth0 does the asking): counted per IP only.
NO_USERNAME: dict[str, Any] = {"username": None}


def lockout_parameters(request_or_attempt: HttpRequest | AccessBase, credentials: dict | None = None) -> list[str]:
    """Per IP, and per username when there is one. Without one axes would count every
    portal failure under a single empty-username key, locking out everybody."""
    if isinstance(request_or_attempt, AccessBase):
        username = request_or_attempt.username
    else:
        username = get_client_username(request_or_attempt, credentials)
    return ["ip_address", "username"] if username else ["ip_address"]


class SharedCacheHandler(AxesCacheHandler):
    """axes' cache handler, failing open like the gateway's other limits when the
    cache is down: sign-in keeps working, unlimited, rather than failing with a 500."""

    def __init__(self) -> None:
        """The cache is looked up on use (AXES_CACHE), not kept from start-up."""

    @property
    def cache(self) -> Any:
        return caches[settings.AXES_CACHE]

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        return quietly(partial(super().get_failures, request, credentials), 0)

    def user_login_failed(self, sender: Any, credentials: dict, request: HttpRequest | None = None,
                          **kwargs: Any) -> None:
        quietly(partial(super().user_login_failed, sender, credentials, request, **kwargs), None)

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        quietly(partial(super().user_logged_in, sender, request, user, **kwargs), None)


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """429 with Retry-After: the envelope under /api/, a page for people elsewhere."""
    seconds = int(get_cool_off(request).total_seconds())
    if is_api_path(request.path):
        response = error_response(429, "rate_limited", "Too many failed sign-ins; retry after the time in Retry-After.")
    else:
        response = render(request, "locked_out.html", {"minutes": max(1, round(seconds / 60))}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _failed_on_the_visitors_side(exception: Exception) -> bool:
    """A sign-in that failed on the visitor's side: not Auth0 being unreachable or
    answering errors, which no visitor should be locked out for."""
    return isinstance(exception, AuthException) and not isinstance(exception, AuthProviderError)


class SignInFailureMiddleware(SocialAuthExceptionMiddleware):
    """social-auth's error page for a failed portal sign-in, with the failure counted
    by axes; a client IP over the limit is refused the round trip to Auth0."""

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.namespace == "social" and not AxesProxyHandler.is_allowed(request,
                                                                                                   NO_USERNAME):
            return get_lockout_response(request, None, NO_USERNAME)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _failed_on_the_visitors_side(exception):
            user_login_failed.send(sender=__name__, credentials=dict(NO_USERNAME), request=request)
        return super().process_exception(request, exception)
