"""Brute-force limits on signing in (django-axes on the shared cache): the admin login
per client IP and per username, the portal's Auth0 sign-in per client IP; clear 429
answers; the API's Bearer authentication left alone."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.models import Account
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

LIMIT = 5  # SIGNIN_FAILURE_LIMIT's default
PASSWORD = "the-right-password-123"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)


@pytest.fixture
def second_operator(django_user_model):
    return django_user_model.objects.create_superuser("second", "second@example.com", PASSWORD)


def admin_login(username: str, password: str, ip: str):
    return Client(REMOTE_ADDR=ip).post("/admin/login/?next=/admin/", {"username": username, "password": password})


def assert_signed_in(response) -> None:
    assert response.status_code == 302 and response["Location"] == "/admin/", response.status_code


def assert_refused_wrong_password(response) -> None:
    assert response.status_code == 200
    assert b"Please enter the correct username and password" in response.content


def assert_locked_out(response) -> None:
    assert response.status_code == 429, response.status_code
    assert response["Content-Type"].startswith("text/html")
    assert b"Too many failed sign-ins" in response.content
    assert int(response["Retry-After"]) == 15 * 60


def test_it_locks_an_ip_out_of_the_admin_after_the_limit(operator, second_operator):
    for n in range(LIMIT - 1):
        assert_refused_wrong_password(admin_login(f"guess-{n}", "wrong", "203.0.113.1"))

    assert_locked_out(admin_login("guess-last", "wrong", "203.0.113.1"))

    # Even the right password, for anyone, from that address...
    assert_locked_out(admin_login("operator", PASSWORD, "203.0.113.1"))
    # ...while the same operator signs in from elsewhere.
    assert_signed_in(admin_login("operator", PASSWORD, "198.51.100.7"))


def test_it_locks_a_username_out_of_the_admin_whatever_the_ip(operator, second_operator):
    for n in range(LIMIT - 1):
        assert_refused_wrong_password(admin_login("operator", "wrong", f"203.0.113.{n + 1}"))

    assert_locked_out(admin_login("operator", "wrong", "203.0.113.100"))

    assert_locked_out(admin_login("operator", PASSWORD, "198.51.100.7"))
    # The address is not locked: another operator signs in from it.
    assert_signed_in(admin_login("second", PASSWORD, "198.51.100.7"))


def test_it_forgets_the_failures_after_a_successful_sign_in(operator):
    for _ in range(LIMIT - 1):
        assert_refused_wrong_password(admin_login("operator", "wrong", "203.0.113.1"))
    assert_signed_in(admin_login("operator", PASSWORD, "203.0.113.1"))

    for _ in range(LIMIT - 1):
        assert_refused_wrong_password(admin_login("operator", "wrong", "203.0.113.1"))
    assert_locked_out(admin_login("operator", "wrong", "203.0.113.1"))


def test_operators_lift_a_lockout_by_ip_or_by_username(operator, second_operator):
    for n in range(LIMIT):
        admin_login(f"guess-{n}", "wrong", "203.0.113.1")
        admin_login("second", "wrong", f"198.51.100.{n + 1}")
    assert_locked_out(admin_login("operator", PASSWORD, "203.0.113.1"))
    assert_locked_out(admin_login("second", PASSWORD, "192.0.2.1"))

    call_command("axes_reset_ip", "203.0.113.1", stdout=io.StringIO())
    call_command("axes_reset_username", "second", stdout=io.StringIO())

    assert_signed_in(admin_login("operator", PASSWORD, "203.0.113.1"))
    assert_signed_in(admin_login("second", PASSWORD, "192.0.2.1"))


def test_it_counts_the_client_ip_the_trusted_proxy_gives(operator, settings):
    settings.TRUSTED_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    for n in range(LIMIT):
        # A client-chosen X-Forwarded-For prefix does not give it a fresh address.
        last = Client(REMOTE_ADDR="10.0.0.2").post("/admin/login/", {"username": f"g{n}", "password": "x"},
                                                   headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.9"})
    assert_locked_out(last)
    assert_signed_in(Client(REMOTE_ADDR="10.0.0.2").post(
        "/admin/login/?next=/admin/", {"username": "operator", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.10"}))


def test_it_lets_operators_sign_in_while_the_shared_cache_is_down(operator, settings):
    settings.CACHES = {"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
    }}
    # Unlimited (fail-open, like the API's limits) rather than a 500.
    for _ in range(LIMIT + 1):
        assert_refused_wrong_password(admin_login("operator", "wrong", "203.0.113.1"))
    assert_signed_in(admin_login("operator", PASSWORD, "203.0.113.1"))


# --- the API is not concerned --------------------------------------------------------


def test_it_leaves_the_apis_bearer_authentication_alone(operator, alice_token):
    for n in range(LIMIT):
        admin_login(f"guess-{n}", "wrong", "203.0.113.1")
    assert_locked_out(admin_login("operator", PASSWORD, "203.0.113.1"))

    # A locked-out address still calls the API with a valid credential...
    api = Client(REMOTE_ADDR="203.0.113.1")
    assert api.get("/api/v1/auth/me", headers=bearer(alice_token)).status_code == 200

    # ...and failed Bearer authentications (well past the sign-in limit) are the API's
    # own 401s, counted by its own limit, not sign-in failures.
    other = Client(REMOTE_ADDR="198.51.100.7")
    statuses = {other.get("/api/v1/auth/me", headers=bearer(f"tp_live_{n:032d}")).status_code
                for n in range(3 * LIMIT)}
    assert statuses == {401}
    assert_signed_in(admin_login("operator", PASSWORD, "198.51.100.7"))


# --- the portal's Auth0 sign-in ------------------------------------------------------


def csrf_token(page: bytes) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()


def begin(client: Client):
    """Press the portal's sign-in button: a redirect to Auth0, or the refusal."""
    page = client.get("/portal/login/")
    return client.post("/portal/auth/login/auth0/", {"csrfmiddlewaretoken": csrf_token(page.content)})


COMPLETE = "/portal/auth/complete/auth0/"


def forged_callback(client: Client):
    """A callback nobody started: no state in the session, a made-up code."""
    return client.get(COMPLETE, {"code": "stolen-or-guessed", "state": "forged"})


def wrong_state_callback(client: Client):
    """A sign-in started here, and a callback carrying another state (a replayed or
    planted callback URL)."""
    assert begin(client).status_code == 302
    return client.get(COMPLETE, {"code": "stolen-or-guessed", "state": "not-the-one-sent"})


def declined_callback(client: Client):
    """Auth0 sends the person back with `error=access_denied` (they declined)."""
    started = begin(client)
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    return client.get(COMPLETE, {"error": "access_denied", "error_description": "declined", "state": state})


def sign_in(client: Client, auth0, sub: str):
    auth0.login_as(sub)  # as if an Auth0 session were open: no sign-in page
    authorize = begin(client)
    assert authorize.status_code == 302, authorize.status_code
    at_auth0 = requests.get(authorize["Location"], allow_redirects=False, timeout=10)
    return client.get(at_auth0.headers["Location"].removeprefix("http://testserver"))


def test_it_locks_an_ip_out_of_portal_sign_in_after_failed_callbacks(auth0, flash):
    attacker = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.1")
    for failure in [forged_callback, wrong_state_callback, declined_callback, forged_callback][:LIMIT - 1]:
        failed = failure(attacker)
        assert failed.status_code == 403, (failure.__name__, failed.status_code)

    assert_locked_out(forged_callback(attacker))

    # The address cannot start a sign-in, nor finish a real one...
    assert_locked_out(begin(attacker))
    auth0.login_as("auth0|someone", email="someone@example.com")
    assert_locked_out(attacker.get("/portal/auth/complete/auth0/", {"code": "x", "state": "y"}))
    # ...while everyone else signs in as usual.
    elsewhere = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7")
    assert sign_in(elsewhere, auth0, "auth0|someone").status_code == 302
    assert elsewhere.get("/portal/").status_code == 200
    assert Account.objects.filter(external_id="auth0|someone").exists()


def test_it_forgets_portal_failures_after_a_successful_sign_in(auth0, flash):
    person = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.1")
    for _ in range(LIMIT - 1):
        assert forged_callback(person).status_code == 403
    auth0.login_as("auth0|returning", email="returning@example.com")
    assert sign_in(person, auth0, "auth0|returning").status_code == 302

    again = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.1")
    for _ in range(LIMIT - 1):
        assert forged_callback(again).status_code == 403
    assert_locked_out(forged_callback(again))


def test_it_does_not_count_auth0_failing_against_the_visitor(auth0, flash):
    auth0.fail(503, path=r"/oauth/token$", times=None)
    person = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.1")
    for _ in range(LIMIT + 1):
        answer = sign_in(person, auth0, "auth0|unlucky")
        assert answer.status_code >= 500, answer.status_code
    assert begin(person).status_code == 302


# --- under /api/, the envelope -------------------------------------------------------


@csrf_exempt
def password_sign_in(request: HttpRequest) -> JsonResponse:
    """A password sign-in under /api/ (the API has none today; any added later is
    limited the same way)."""
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    return JsonResponse({"signed_in": user is not None}, status=200 if user else 401)


urlpatterns = [path("api/v1/test/sign-in", password_sign_in)]


@pytest.mark.urls("tests.accounts.test_signin_limits")
def test_it_answers_a_lockout_under_api_with_the_envelope(operator):
    client = Client(REMOTE_ADDR="203.0.113.1")
    for _ in range(LIMIT - 1):
        assert client.post("/api/v1/test/sign-in", {"username": "operator", "password": "x"}).status_code == 401

    for password in ("x", PASSWORD):  # the fifth failure, then the right password
        refused = client.post("/api/v1/test/sign-in", {"username": "operator", "password": password})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused["Retry-After"]) == 15 * 60


# --- every worker and instance counts together ---------------------------------------


def login_page_token(session: requests.Session, url: str) -> str:
    return csrf_token(session.get(url + "/admin/login/", timeout=10).content)


@pytest.mark.gunicorn
def test_two_instances_count_admin_failures_together(gunicorn_server, django_user_model):
    for username in ("operator", "second"):
        django_user_model.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    proxied = {"TRUSTED_PROXY_IP_HEADER": "HTTP_X_FORWARDED_FOR"}
    instances = [gunicorn_server(workers=1, env=proxied), gunicorn_server(workers=1, env=proxied)]
    browser = requests.Session()  # one CSRF cookie, valid on both (same SECRET_KEY)

    def attempt(n: int, username: str, password: str, ip: str) -> requests.Response:
        url = instances[n % 2]
        return browser.post(url + "/admin/login/?next=/admin/", allow_redirects=False, timeout=10,
                            data={"username": username, "password": password,
                                  "csrfmiddlewaretoken": login_page_token(browser, url)},
                            headers={"X-Forwarded-For": ip})

    # Per IP: failures alternate between the instances; the fifth locks the address.
    answers = [attempt(n, f"guess-{n}", "wrong", "203.0.113.1").status_code for n in range(LIMIT)]
    assert answers == [200] * (LIMIT - 1) + [429]
    assert attempt(0, "operator", PASSWORD, "203.0.113.1").status_code == 429
    assert attempt(1, "operator", PASSWORD, "203.0.113.1").status_code == 429

    # Per username: from a new address each time, on alternating instances.
    answers = [attempt(n, "second", "wrong", f"198.51.100.{n + 1}").status_code for n in range(LIMIT)]
    assert answers == [200] * (LIMIT - 1) + [429]
    assert attempt(0, "second", PASSWORD, "192.0.2.50").status_code == 429
    assert attempt(1, "second", PASSWORD, "192.0.2.51").status_code == 429
