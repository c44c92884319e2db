"""Portal sign-in end to end over real HTTP: the gateway under live_server, a browser-like
`requests` session following redirects through the Auth0 stand-in (authorize → callback
→ code-for-token exchange → id_token checked against the stand-in's JWKS)."""

from __future__ import annotations

import re
import socket

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from social_django.models import UserSocialAuth

from accounts.models import Account
from tests.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def sign_in(browser: requests.Session, live_server, **post) -> requests.Response:
    """What a person does: open the portal, land on the sign-in page, press the button."""
    page = browser.get(live_server.url + "/portal/", timeout=10)
    assert page.url.startswith(live_server.url + "/portal/login/"), page.url
    return browser.post(live_server.url + "/portal/auth/login/auth0/", timeout=10, data={
        "csrfmiddlewaretoken": csrf_token(page.text), "next": "/portal/"},
        headers={"Referer": page.url}, **post)


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_it_signs_a_new_person_in_through_auth0(live_server, browser, auth0, flash):
    auth0.login_as("google-oauth2|1234", email="grace@example.com", name="Grace")

    page = sign_in(browser, live_server)

    assert page.status_code == 200
    assert page.url == live_server.url + "/portal/"
    assert "Signed in as grace@example.com" in page.text
    hops = [r.url for r in page.history]
    assert any(h.startswith(auth0.url + "/authorize") for h in hops)
    assert any("/portal/auth/complete/auth0/" in h for h in hops)
    assert len(auth0.received(r"/oauth/token$")) == 1
    assert auth0.received(r"/\.well-known/jwks\.json$")  # the id_token was checked against the keys

    account = Account.objects.get(external_id="google-oauth2|1234")
    assert account.user is not None and account.user.email == "grace@example.com"
    assert account.flash_user_id == flash.users["google-oauth2|1234"]
    assert len(flash.received(r"/users/resolve$")) == 1
    # Auth0's tokens are not kept (they would show in UserSocialAuth's admin page).
    social = UserSocialAuth.objects.get(uid="google-oauth2|1234")
    assert not {"access_token", "id_token", "refresh_token"} & set(social.extra_data)


def test_it_links_the_portal_to_the_same_account_as_the_api(live_server, browser, auth0, alice, flash):
    api_user = Client().get("/api/v1/auth/me", headers=bearer(auth0.mint(alice.external_id))).json()
    auth0.login_as(alice.external_id, email=alice.email)

    assert "Signed in as alice@example.com" in sign_in(browser, live_server).text

    alice.refresh_from_db()
    assert str(alice.id) == api_user["id"]
    assert alice.user is not None
    assert Account.objects.count() == 1
    assert flash.received(r"/users/resolve$") == []  # already known: no second resolve


def test_it_signs_the_same_person_in_as_the_same_django_user(live_server, browser, auth0):
    auth0.login_as("auth0|returning", email="ret@example.com")
    sign_in(browser, live_server)
    browser.cookies.clear()
    auth0.login_as("auth0|returning", email="ret@example.com")
    assert "Signed in as ret@example.com" in sign_in(browser, live_server).text
    assert get_user_model().objects.count() == 1


def test_it_signs_out(live_server, browser, auth0):
    auth0.login_as("auth0|leaver", email="leaver@example.com")
    home = sign_in(browser, live_server)
    response = browser.post(live_server.url + "/portal/logout/", data={"csrfmiddlewaretoken": csrf_token(home.text)},
                            headers={"Referer": live_server.url + "/portal/"}, timeout=10)
    assert response.status_code == 200
    assert "signed out" in response.text

    after = browser.get(live_server.url + "/portal/", allow_redirects=False, timeout=10)
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/portal/login/")


def test_it_does_not_sign_out_on_get(live_server, browser, auth0):
    auth0.login_as("auth0|stayer")
    sign_in(browser, live_server)
    assert browser.get(live_server.url + "/portal/logout/", timeout=10).status_code == 405
    assert browser.get(live_server.url + "/portal/", allow_redirects=False, timeout=10).status_code == 200


def test_it_shows_an_error_page_and_keeps_nothing_when_flash_is_down(live_server, browser, auth0, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.FLASH_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    auth0.login_as("auth0|too-early", email="early@example.com")

    page = sign_in(browser, live_server)

    assert page.status_code == 503
    assert "could not sign you in" in page.text
    assert not Account.objects.filter(external_id="auth0|too-early").exists()
    assert get_user_model().objects.count() == 0


def test_it_refuses_an_id_token_without_exp(live_server, browser, auth0):
    auth0.login_as("auth0|forever", exp=None)
    page = sign_in(browser, live_server)
    assert page.status_code >= 400
    assert "Signed in" not in page.text
    assert not Account.objects.filter(external_id="auth0|forever").exists()


def test_it_refuses_an_id_token_for_another_client(live_server, browser, auth0):
    auth0.login_as("auth0|elsewhere", aud="another-client")
    page = sign_in(browser, live_server)
    assert page.status_code >= 400
    assert not Account.objects.filter(external_id="auth0|elsewhere").exists()


def test_it_refuses_a_callback_with_a_forged_state(live_server, browser, auth0):
    auth0.login_as("auth0|victim")
    authorize = sign_in(browser, live_server, allow_redirects=False)
    callback = browser.get(authorize.headers["Location"], allow_redirects=False, timeout=10)
    forged = re.sub(r"state=[^&]+", "state=forged", callback.headers["Location"])
    page = browser.get(forged, allow_redirects=False, timeout=10)
    assert page.status_code in (400, 403)
    assert not Account.objects.filter(external_id="auth0|victim").exists()


def test_it_needs_a_post_to_begin(live_server, browser):
    assert browser.get(live_server.url + "/portal/auth/login/auth0/", timeout=10).status_code == 405


def test_it_lets_staff_into_the_admin_with_a_django_account(live_server, browser):
    get_user_model().objects.create_superuser("operator", "op@example.com", "a-long-password-1")
    login_page = browser.get(live_server.url + "/admin/login/", timeout=10)
    page = browser.post(live_server.url + "/admin/login/?next=/admin/", timeout=10, data={
        "csrfmiddlewaretoken": csrf_token(login_page.text), "username": "operator",
        "password": "a-long-password-1", "next": "/admin/"}, headers={"Referer": live_server.url + "/admin/login/"})
    assert page.status_code == 200
    assert page.url == live_server.url + "/admin/"
    assert "Session tokens" in page.text
