"""Test-only routes that behave like the relay and the refusals it makes, so the
recording is exercised through the real middleware without other apps' endpoints."""

from django.http import StreamingHttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view
from rest_framework.response import Response

from core.context import context
from core.errors import APIError
from core.signals import balance_seen
from timepoint_billing.urls import urlpatterns as real_urlpatterns


@api_view(["POST"])
def relayed(request, item_id):
    """Writes what it is told into the request's context, announces a balance, as
    the relay does."""
    facts = dict(request.data)
    if "balance" in facts:
        balance_seen.send(sender=None, account=request.user, balance=facts.pop("balance"))
    ctx = context(request)
    for name, value in facts.items():
        setattr(ctx, name, value)
    return Response({"ok": True})


@api_view(["GET"])
def refused(request, status):
    raise APIError(status)


@api_view(["GET"])
def crashed(request):
    raise RuntimeError("boom")


def streamed(request):
    gate = request.GET.get("credits", "0")

    def events():
        yield b"event: progress\n\n"
        # The relay learns the cost when generation ends, i.e. during the stream.
        ctx = context(request)
        ctx.credits_spent, ctx.preset = int(gate), "hd"
        yield b"event: done\n\n"

    return StreamingHttpResponse(events(), content_type="text/event-stream")


fake = [
    path("relayed/<int:item_id>", relayed),
    path("refused/<int:status>", refused),
    path("crashed", crashed),
    path("streamed", streamed),
]

urlpatterns = [path("api/v1/fake/", include(fake)), *real_urlpatterns]
