"""Portal pages of the accounts app: the dashboard and the API guide."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apikeys.limits import TIERS

from .portal_docs import GROUPS


@login_required
def docs(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/docs.html", {
        "section": "docs",
        "api_base": request.build_absolute_uri("/").rstrip("/"),
        "tiers": list(TIERS.items()),
        "endpoint_groups": GROUPS,
    })
