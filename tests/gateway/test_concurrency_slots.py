import threading
import time

import pytest
import requests
from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apikeys.keys import create_key
from core.credentials import API_KEY, Credential
from core.errors import APIError
from gateway.admission import acquire_slot, concurrency_slot
from limits import slots
from limits.slots import release_when_closed


class SlowRelayView(APIView):
    """A relayed read, the way the relay holds its slot around the upstream call."""

    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        with concurrency_slot(request):
            upstream = requests.get(
                settings.FLASH_URL + "/api/v1/credits/costs",
                headers={"X-Service-Key": settings.FLASH_SERVICE_KEY},
                timeout=10,
            )
            if upstream.status_code >= 500:
                raise APIError(502, "upstream_error", "Flash failed.")
            return Response(upstream.json())


urlpatterns = [path("api/v1/slow", SlowRelayView.as_view())]


def caller(account, tier="free"):
    """A DRF request authenticated with a key of the given tier."""
    key, _ = create_key(account, "k", "live")
    key.account.tier_override = tier  # a key's tier is its account's
    request = Request(APIRequestFactory().get("/api/v1/generate"))
    request.user = account
    request.auth = Credential(API_KEY, api_key=key)
    return request


def test_a_free_key_holds_one_request_at_a_time(alice):
    request = caller(alice)
    slot = acquire_slot(request)
    with pytest.raises(APIError) as refused:
        acquire_slot(request)
    assert refused.value.status_code == 429
    assert refused.value.code == "concurrency_limited"
    assert int(refused.value.headers["Retry-After"]) >= 1
    slot.release()
    acquire_slot(request).release()


def test_keys_do_not_share_slots(alice, bob):
    held = acquire_slot(caller(alice))
    acquire_slot(caller(bob)).release()
    acquire_slot(caller(alice)).release()  # another key of alice's
    held.release()


def test_release_is_idempotent_and_never_frees_someone_elses_slot(alice):
    request = caller(alice)
    first = acquire_slot(request)
    first.release()
    second = acquire_slot(request)
    first.release()
    with pytest.raises(APIError):
        acquire_slot(request)
    second.release()


def test_racing_threads_get_exactly_the_tiers_slots(alice):
    request = caller(alice, tier="pro")
    gate = threading.Barrier(12)
    won, lost = [], []

    def take():
        gate.wait()
        try:
            won.append(acquire_slot(request))
        except APIError:
            lost.append(1)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(won), len(lost)) == (5, 7)
    for slot in won:
        slot.release()
    acquire_slot(request).release()


def test_the_slot_is_released_when_the_body_fails(alice):
    request = caller(alice)
    with pytest.raises(RuntimeError):
        with concurrency_slot(request):
            raise RuntimeError("upstream blew up")
    acquire_slot(request).release()


def test_a_dead_workers_slot_expires(alice, settings, monkeypatch):
    settings.GENERATION_TIMEOUT = 0
    monkeypatch.setattr(slots, "MARGIN_SECONDS", 1)  # a slot lives a second
    request = caller(alice)
    acquire_slot(request)  # never released: its worker "died"
    deadline = time.monotonic() + 5
    while True:
        try:
            acquire_slot(request).release()
            break
        except APIError:
            assert time.monotonic() < deadline, "the slot never expired"
            time.sleep(0.05)


def test_a_stream_holds_its_slot_until_closed_even_unstarted(alice):
    request = caller(alice)
    response = release_when_closed(StreamingHttpResponse(iter([b"data: 1\n\n"])), acquire_slot(request))
    with pytest.raises(APIError):
        acquire_slot(request)
    response.close()  # what the server does when the client goes away
    acquire_slot(request).release()


def test_a_slot_asked_for_twice_is_released_once_on_close(alice):
    # The stream view and the headers middleware both ask for the admission's slot.
    request = caller(alice)
    slot = acquire_slot(request)
    response = release_when_closed(release_when_closed(StreamingHttpResponse(iter([b"data: 1\n\n"])), slot), slot)

    assert response._resource_closers.count(slot.release) == 1
    response.close()
    acquire_slot(request).release()


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.01)


@pytest.mark.urls(__name__)
def test_a_slow_upstream_request_holds_the_slot_and_a_failed_one_gives_it_back(live_server, flash):
    """Through a real server and the Flash stand-in (one test: each live server test
    costs a database flush)."""
    flash.slow(3, path="/credits/costs")
    url = live_server.url + "/api/v1/slow"
    first = {}
    thread = threading.Thread(target=lambda: first.setdefault("response", requests.get(url, timeout=10)))
    thread.start()
    wait_for(lambda: flash.received("/credits/costs"))
    second = requests.get(url, timeout=10)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "concurrency_limited"
    assert "Retry-After" in second.headers
    thread.join()
    assert first["response"].status_code == 200
    assert requests.get(url, timeout=10).status_code == 200

    flash.fail(500, path="/credits/costs")
    assert requests.get(url, timeout=10).status_code == 502
    assert requests.get(url, timeout=10).status_code == 200


def _answered_by_the_middleware(request, response):
    from django.test import RequestFactory

    from core.context import context
    from gateway.admission import Admission
    from gateway.middleware import RateLimitHeadersMiddleware

    slot = acquire_slot(request)
    django_request = RequestFactory().get("/api/v1/credits/balance")
    context(django_request).admission = Admission("ok", slot=slot, wanted_slot=True)
    return RateLimitHeadersMiddleware(lambda _request: response)(django_request)


def test_an_answers_slot_is_free_before_the_answer_is_sent(alice):
    """A client that sends its next request the moment it reads the answer (to this
    worker or another) finds the slot free: it is given back before the server writes."""
    from django.http import HttpResponse

    request = caller(alice)
    _answered_by_the_middleware(request, HttpResponse(b"{}", status=404))  # not closed yet
    acquire_slot(request).release()


def test_a_streams_slot_stays_held_by_the_middleware_until_closed(alice):
    request = caller(alice)
    response = _answered_by_the_middleware(request, StreamingHttpResponse(iter([b"data: 1\n\n"])))
    with pytest.raises(APIError):
        acquire_slot(request)
    response.close()
    acquire_slot(request).release()
