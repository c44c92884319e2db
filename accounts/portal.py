"""Portal pages of the accounts app: sign-in and sign-out, the dashboard and the API
guide. The portal's pages build on `portal/base.html`."""

from __future__ import annotations

from django.contrib.auth import logout as django_logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apikeys.limits import TIERS

from .portal_docs import GROUPS


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """A sign-in button: social-auth starts the Auth0 round trip only on a CSRF-checked
    POST (Universal Login then offers email, Google, GitHub and Apple)."""
    if request.user.is_authenticated:
        return redirect("portal-home")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    return render(request, "portal/login.html", {"next": next_url})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    django_logout(request)  # flushes the Django session
    return render(request, "portal/signed_out.html")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    account = getattr(request.user, "account", None)
    return render(request, "portal/home.html", {"account": account})


@login_required
def docs(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/docs.html", {
        "section": "docs",
        "api_base": request.build_absolute_uri("/").rstrip("/"),
        "tiers": list(TIERS.items()),
        "endpoint_groups": GROUPS,
    })
