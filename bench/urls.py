"""The real URLs plus `/bench/bare`: a plain Django view behind the whole middleware
stack, the floor the relay is compared with."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from timepoint_billing.urls import *  # noqa: F403
from timepoint_billing.urls import urlpatterns as real_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"balance": 0}', content_type="application/json")


urlpatterns = [path("bench/bare", bare), *real_urlpatterns]
