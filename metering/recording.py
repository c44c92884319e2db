"""The seam other apps use to tell metering what a request cost."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def annotate(request: HttpRequest, **fields: Any) -> None:
    """Attach metering facts (preset, credits_spent, …) to the request being served.

    Accepts a DRF Request or a Django HttpRequest; the facts land on the latter,
    where the metering middleware reads them when the response goes out.
    """
    django_request = getattr(request, "_request", request)
    facts = getattr(django_request, "metering", None)
    if facts is None:
        facts = {}
        django_request.metering = facts
    facts.update(fields)
