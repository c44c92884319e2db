"""A test-only URLconf: the real one plus views that fail in the ways the envelope
must cover (a DRF view with one method, views that raise, a view that needs a caller)."""

from django.http import Http404, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_GET
from django_ratelimit.exceptions import Ratelimited
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response

from timepoint_billing.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def echo(request):
    return Response({"received": request.data})


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def drf_boom(request):
    raise RuntimeError("kaboom: the secret internals")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def drf_missing(request):
    raise Http404("no such thing")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def drf_ratelimited(request):
    raise Ratelimited()


@api_view(["GET"])
def needs_caller(request):
    return Response({"ok": True})


def plain_boom(request):
    raise RuntimeError("kaboom: the secret internals")


@require_GET
def plain_get(request):
    return HttpResponse("ok")


def plain_page(request):
    return HttpResponse("<p>hi</p>")


test_api = [
    path("echo", echo),
    path("drf-boom", drf_boom),
    path("drf-missing", drf_missing),
    path("drf-ratelimited", drf_ratelimited),
    path("needs-caller", needs_caller),
    path("plain-boom", plain_boom),
    path("plain-get", plain_get),
]

urlpatterns = [
    path("api/v1/test/", include(test_api)),
    path("plain-boom", plain_boom),
    path("plain-page", plain_page),
    *urlpatterns,
]
