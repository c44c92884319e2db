import time

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.keys import create_key
from tests.conftest import bearer


class PublicView(APIView):
    """Stands in for the public browse relay: anonymous callers are counted per IP."""

    permission_classes = [AllowAny]
    count_anonymous = True

    def get(self, request):
        return Response({"ok": True})


class OpenView(APIView):
    """A public view anonymous callers use freely (like the plans list)."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


class WebhookLikeView(OpenView):
    throttle_classes = []


urlpatterns = [
    path("api/v1/browse-ish", PublicView.as_view()),
    path("api/v1/open", OpenView.as_view()),
    path("api/v1/hook", WebhookLikeView.as_view()),
    path("plain", lambda request: JsonResponse({})),
]


def until_refused(send, limit):
    """Send until the first 429 and return (answers before it, the 429). Fixed windows
    may roll over between two requests; then counting starts again."""
    answers = []
    for _ in range(3 * limit + 3):
        response = send()
        # The next window resets a minute later (a second's jitter is the clock ticking).
        rolled_over = answers and abs(int(response["X-RateLimit-Reset"]) - int(answers[-1]["X-RateLimit-Reset"])) > 2
        if rolled_over and response.status_code != 429:
            answers = []
        if response.status_code == 429:
            return answers, response
        answers.append(response)
    raise AssertionError("never refused")


def test_an_account_gets_its_tiers_requests_per_minute(as_alice):
    answers, refused = until_refused(lambda: as_alice.get("/api/v1/keys"), 10)
    assert len(answers) == 10
    assert all(r.status_code == 200 for r in answers)
    assert [r["X-RateLimit-Remaining"] for r in answers] == [str(n) for n in range(9, -1, -1)]
    assert all(r["X-RateLimit-Limit"] == "10" for r in answers)
    assert refused.json()["error"]["code"] == "rate_limited"
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused["X-RateLimit-Remaining"] == "0"
    reset = int(refused["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 61
    assert abs(reset - (time.time() + retry_after)) <= 2


def test_an_api_key_is_counted_on_its_own(client, alice, bob):
    _, alices = create_key(alice, "a", "live")
    _, bobs = create_key(bob, "b", "live")
    answers, refused = until_refused(lambda: client.get("/api/v1/keys", headers=bearer(alices)), 10)
    assert len(answers) == 10  # refused with 403 here, but counted all the same
    assert refused.json()["error"]["code"] == "rate_limited"
    assert client.get("/api/v1/keys", headers=bearer(bobs))["X-RateLimit-Remaining"] == "9"


def test_two_keys_of_one_account_have_their_own_budgets(client, alice):
    _, first = create_key(alice, "a", "live")
    _, second = create_key(alice, "b", "live")
    until_refused(lambda: client.get("/api/v1/keys", headers=bearer(first)), 10)
    assert client.get("/api/v1/keys", headers=bearer(second)).status_code == 403


def test_a_pro_account_gets_sixty(as_alice, alice):
    alice.tier = "pro"
    alice.save()
    response = as_alice.get("/api/v1/keys")
    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"


@pytest.mark.urls(__name__)
def test_anonymous_public_callers_are_limited_per_ip(db):
    here, there = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
    answers, refused = until_refused(lambda: here.get("/api/v1/browse-ish"), 10)
    assert len(answers) == 10 and answers[0]["X-RateLimit-Limit"] == "10"
    assert refused.json()["error"]["code"] == "rate_limited" and "Retry-After" in refused
    assert there.get("/api/v1/browse-ish").status_code == 200


@pytest.mark.urls(__name__)
def test_the_trusted_proxy_header_names_the_client(db, settings):
    settings.TRUSTED_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    proxy = Client(REMOTE_ADDR="10.9.9.9")
    until_refused(lambda: proxy.get("/api/v1/browse-ish", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.5"}), 10)
    other = proxy.get("/api/v1/browse-ish", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.6"})
    assert other.status_code == 200


@pytest.mark.urls(__name__)
def test_other_public_views_are_not_limited_for_anonymous_callers(client, db):
    for _ in range(15):
        response = client.get("/api/v1/open")
        assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


def test_unauthenticated_answers_are_not_counted(client, db):
    response = client.get("/api/v1/keys")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response


def test_health_and_schema_are_never_limited(client, db):
    for _ in range(12):
        assert client.get("/health").status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/api/v1/schema/")


def test_anonymous_callers_of_the_public_relay_are_counted(client, db, clockchain):
    response = client.get("/api/v1/today")
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("10", "9")


@pytest.mark.urls(__name__)
def test_views_without_throttles_are_never_counted(as_alice):
    for _ in range(12):
        response = as_alice.get("/api/v1/hook")
        assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
