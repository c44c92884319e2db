"""Portal sign-in through the Auth0 stand-in over real HTTP (authorize → callback →
code-for-token exchange → id_token checked against the stand-in's JWKS).

The first test runs the gateway under live_server with a browser-like `requests`
session; the others drive the gateway with Django's test client (CSRF enforced) and
only the browser's hop to Auth0 over HTTP, which keeps them out of transactional
tests (each costs seconds of table flushing on PostgreSQL)."""

from __future__ import annotations

import re
import socket
from html.parser import HTMLParser

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from social_django.models import UserSocialAuth

from accounts.models import Account
from standins.__main__ import dev_token
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


def go_to_auth0(client: Client) -> str:
    """Open the portal, land on the sign-in page, press the button: Auth0's authorize URL."""
    page = client.get("/portal/", follow=True)
    assert page.request["PATH_INFO"] == "/portal/login/"
    begin = client.post("/portal/auth/login/auth0/", {"csrfmiddlewaretoken": csrf_token(page.content.decode()),
                                                      "next": "/portal/"})
    assert begin.status_code == 302
    return begin["Location"]


def come_back(client: Client, authorize_url: str, **get):
    """The browser at Auth0 (real HTTP), then back at the gateway's callback."""
    at_auth0 = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert at_auth0.status_code == 302
    return client.get(at_auth0.headers["Location"].removeprefix("http://testserver"), **get)


def portal_sign_in(client: Client):
    return come_back(client, go_to_auth0(client), follow=True)


@pytest.mark.django_db(transaction=True)
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
    # (id_token verification against the JWKS is shown by the refusal tests below)

    account = Account.objects.get(external_id="google-oauth2|1234")
    assert account.user is not None and account.user.email == "grace@example.com"
    assert account.flash_user_id == flash.users["google-oauth2|1234"]
    assert len(flash.received(r"/users/resolve$")) == 1
    # Auth0's tokens are not kept (they would show in UserSocialAuth's admin page).
    social = UserSocialAuth.objects.get(uid="google-oauth2|1234")
    assert not {"access_token", "id_token", "refresh_token"} & set(social.extra_data)


def test_it_asks_auth0_for_openid_profile_and_email_once(client, auth0, alice):
    auth0.login_as(alice.external_id, email=alice.email)

    come_back(client, go_to_auth0(client))

    (authorize,) = auth0.received(r"/authorize$", "GET")
    assert authorize.query["scope"] == ["openid profile email"]


def test_it_links_the_portal_to_the_same_account_as_the_api(client, auth0, alice, flash):
    api_user = Client().get("/api/v1/auth/me", headers=bearer(auth0.mint(alice.external_id))).json()
    auth0.login_as(alice.external_id, email=alice.email)

    assert "Signed in as alice@example.com" in portal_sign_in(client).content.decode()

    alice.refresh_from_db()
    assert str(alice.id) == api_user["id"]
    assert alice.user is not None
    assert Account.objects.count() == 1
    assert flash.received(r"/users/resolve$") == []  # already known: no second resolve


def test_it_signs_the_same_person_in_as_the_same_django_user(client, auth0):
    auth0.login_as("auth0|returning", email="ret@example.com")
    portal_sign_in(client)
    again = Client(enforce_csrf_checks=True)
    auth0.login_as("auth0|returning", email="ret@example.com")
    assert "Signed in as ret@example.com" in portal_sign_in(again).content.decode()
    assert get_user_model().objects.count() == 1


def test_it_signs_in_a_person_whose_email_is_too_long_to_keep(client, auth0):
    auth0.login_as("auth0|long-email", email="a" * 300 + "@example.com", name="Ada")
    home = portal_sign_in(client)
    assert home.status_code == 200 and home.request["PATH_INFO"] == "/portal/"
    account = Account.objects.get(external_id="auth0|long-email")
    assert account.email == "" and account.user.email == ""


def test_it_signs_out(client, auth0):
    auth0.login_as("auth0|leaver", email="leaver@example.com")
    home = portal_sign_in(client)
    response = client.post("/portal/logout/", {"csrfmiddlewaretoken": csrf_token(home.content.decode())})
    assert response.status_code == 200
    assert b"signed out" in response.content
    assert "_auth_user_id" not in client.session

    after = client.get("/portal/")
    assert after.status_code == 302
    assert after["Location"].startswith("/portal/login/")


def test_it_does_not_sign_out_on_get(client, auth0):
    auth0.login_as("auth0|stayer")
    portal_sign_in(client)
    assert client.get("/portal/logout/").status_code == 405
    assert client.get("/portal/").status_code == 200


def test_it_shows_an_error_page_and_keeps_nothing_when_flash_is_down(client, auth0, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.FLASH_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    auth0.login_as("auth0|too-early", email="early@example.com")

    page = portal_sign_in(client)

    assert page.status_code == 503
    assert b"could not sign you in" in page.content
    assert not Account.objects.filter(external_id="auth0|too-early").exists()
    assert get_user_model().objects.count() == 0


def test_it_refuses_an_id_token_without_exp(client, auth0):
    auth0.login_as("auth0|forever", exp=None)
    page = portal_sign_in(client)
    assert page.status_code >= 400
    assert b"Signed in" not in page.content
    assert not Account.objects.filter(external_id="auth0|forever").exists()


def test_it_refuses_an_id_token_for_another_client(client, auth0):
    auth0.login_as("auth0|elsewhere", aud="another-client")
    page = portal_sign_in(client)
    assert page.status_code >= 400
    assert not Account.objects.filter(external_id="auth0|elsewhere").exists()


def test_it_refuses_a_callback_with_a_forged_state(client, auth0):
    auth0.login_as("auth0|victim")
    authorize_url = re.sub(r"state=[^&]+", "state=forged", go_to_auth0(client))
    page = come_back(client, authorize_url)
    assert page.status_code in (400, 403)
    assert not Account.objects.filter(external_id="auth0|victim").exists()


def test_it_needs_a_post_to_begin(client):
    assert client.get("/portal/auth/login/auth0/").status_code == 405


def test_it_lets_staff_into_the_admin_with_a_django_account(client):
    get_user_model().objects.create_superuser("operator", "op@example.com", "a-long-password-1")
    login_page = client.get("/admin/login/")
    page = client.post("/admin/login/?next=/admin/", {
        "csrfmiddlewaretoken": csrf_token(login_page.content.decode()), "username": "operator",
        "password": "a-long-password-1", "next": "/admin/"}, follow=True)
    assert page.status_code == 200
    assert page.request["PATH_INFO"] == "/admin/"
    assert b"Session tokens" in page.content


# --- the Auth0 stand-in's sign-in page (what `make run`'s portal shows) ------------------


class Forms(HTMLParser):
    """The page's forms: each a dict of its inputs' names and values, and its button."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs["action"], "fields": {}, "button": ""})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        self._in_button = tag == "button"

    def handle_endtag(self, tag: str) -> None:
        self._in_button = False

    def handle_data(self, data: str) -> None:
        if getattr(self, "_in_button", False):
            self.forms[-1]["button"] += data.strip()

    def named(self, button: str) -> dict:
        return next(f for f in self.forms if f["button"] == button)


def at_the_auth0_page(client: Client, auth0) -> requests.Response:
    """Press the portal's sign-in button with no Auth0 session: the stand-in's page."""
    page = requests.get(go_to_auth0(client), allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    return page


def submit(client: Client, auth0, form: dict, **fields: str):
    """The person presses the form's button; the browser follows back to the portal."""
    answer = requests.post(auth0.url + form["action"], data={**form["fields"], **fields}, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 302, answer.text
    return client.get(answer.headers["Location"].removeprefix("http://testserver"), follow=True)


def test_it_signs_in_as_the_identity_typed_on_the_auth0_page(client, auth0):
    form = Forms(at_the_auth0_page(client, auth0).text).named("Sign in")

    page = submit(client, auth0, form, sub="github|ada", email="ada@example.com", name="Ada")

    assert "Signed in as ada@example.com" in page.content.decode()
    account = Account.objects.get(external_id="github|ada")
    assert account.user.email == "ada@example.com"


def test_it_signs_in_by_default_as_the_identity_make_run_prints_a_token_for(client, auth0):
    # The printed token's first call makes the account; the portal must show that one.
    made_with_curl = Client().get("/api/v1/auth/me", headers=bearer(dev_token(auth0))).json()
    form = Forms(at_the_auth0_page(client, auth0).text).named("Sign in")
    assert form["fields"]["sub"] == "auth0|newcomer"

    page = submit(client, auth0, form)

    assert "Signed in as newcomer@example.com" in page.content.decode()
    assert Account.objects.count() == 1
    assert str(Account.objects.get().id) == made_with_curl["id"]


def test_it_offers_the_identities_that_signed_in_before(client, auth0):
    submit(client, auth0, Forms(at_the_auth0_page(client, auth0).text).named("Sign in"), sub="auth0|grace",
           email="grace@example.com")
    again = Client(enforce_csrf_checks=True)

    forms = Forms(at_the_auth0_page(again, auth0).text)
    page = submit(again, auth0, forms.named("Continue as auth0|grace"))

    assert "Signed in as grace@example.com" in page.content.decode()
    assert forms.named("Continue as auth0|newcomer")  # the default stays on offer


def test_it_asks_again_for_a_missing_user_id_and_signs_nobody_in(client, auth0):
    form = Forms(at_the_auth0_page(client, auth0).text).named("Sign in")

    answer = requests.post(auth0.url + form["action"], data={**form["fields"], "sub": " "}, allow_redirects=False,
                           timeout=10)

    assert answer.status_code == 400
    assert "Give a user id" in answer.text
    assert Forms(answer.text).named("Sign in")["fields"]["state"] == form["fields"]["state"]
    assert auth0.received("/oauth/token") == []
