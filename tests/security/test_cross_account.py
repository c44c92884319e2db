"""One account can neither read, revoke nor use another's keys, usage or timepoints,
whatever credential it comes with; and cookies never authenticate the API, so a
cross-site form cannot act for a signed-in portal user."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from apikeys.keys import create_key
from apikeys.models import APIKey
from tests.conftest import bearer
from tests.portal.conftest import signed_in_user


@pytest.fixture
def alices_key(alice):
    key, plaintext = create_key(alice, "alice's", "live")
    return key, plaintext


@pytest.fixture(params=["auth0 token", "session token", "api key"])
def as_bob(request, bob, auth0) -> tuple[str, Client]:
    token = auth0.mint(bob.external_id)
    if request.param == "session token":
        token = Client().post("/api/v1/auth/login", headers=bearer(token)).json()["session_token"]
    elif request.param == "api key":
        token = create_key(bob, "bob's", "live")[1]
    return request.param, Client(headers=bearer(token))


@pytest.mark.parametrize(("method", "template"), [("get", "/api/v1/keys/{}/usage"), ("delete", "/api/v1/keys/{}")])
def test_it_hides_another_accounts_key(alices_key, as_bob, method, template):
    kind, client = as_bob
    key, plaintext = alices_key
    response = getattr(client, method)(template.format(key.pk))
    # A person is told the key does not exist; an API key may not manage keys at all.
    expected = (403, "forbidden") if kind == "api key" else (404, "not_found")
    assert (response.status_code, response.json()["error"]["code"]) == expected
    assert str(key.pk) not in response.content.decode()
    assert APIKey.objects.get(pk=key.pk).revoked_at is None
    assert Client().get("/api/v1/credits/balance", headers=bearer(plaintext)).status_code == 200


def test_a_listing_shows_only_the_callers_keys(alices_key, bob, auth0):
    bobs, _ = create_key(bob, "bob's", "live")
    listing = Client().get("/api/v1/keys", headers=bearer(auth0.mint(bob.external_id))).json()
    assert [k["id"] for k in listing["keys"]] == [str(bobs.pk)]


def test_a_key_acts_only_as_its_owner(alices_key, alice, bob, flash):
    _, plaintext = alices_key
    response = Client().get("/api/v1/credits/balance", headers={**bearer(plaintext), "X-User-ID": bob.flash_user_id})
    assert response.status_code == 200
    (sent,) = flash.received("/credits/balance")
    assert sent.headers["x-user-id"] == alice.flash_user_id


def test_another_accounts_timepoint_can_be_neither_read_nor_changed(as_alice, as_bob, flash):
    made = as_alice.post("/api/v1/generate", {"query": "rome"}, content_type="application/json")
    assert made.status_code == 200
    timepoint = made.json()["id"]
    _, client = as_bob
    assert client.get(f"/api/v1/timepoints/{timepoint}").status_code == 404
    changed = client.patch(f"/api/v1/timepoints/{timepoint}/visibility", {"visibility": "public"},
                           content_type="application/json")
    assert changed.status_code == 404
    assert flash.timepoints[timepoint]["visibility"] == "private"


def test_a_signed_in_portal_session_does_not_authenticate_the_api(db, auth0):
    browser = Client()
    auth0.login_as("auth0|portal-user")
    begin = browser.post("/portal/auth/login/auth0/", {"next": "/portal/"})
    at_auth0 = requests.get(begin["Location"], allow_redirects=False, timeout=10)
    assert browser.get(at_auth0.headers["Location"].removeprefix("http://testserver"), follow=True).status_code == 200
    assert browser.cookies.get("sessionid"), "the portal sign-in should have left a session cookie"
    # A form on another site posting with that cookie gets nowhere.
    response = browser.post("/api/v1/keys", {"name": "forged", "environment": "live"}, content_type="application/json")
    assert response.status_code == 401
    assert not APIKey.objects.exists()


def test_the_portal_hides_another_accounts_key_pages(alices_key, bob):
    key, plaintext = alices_key
    browser = Client()
    browser.force_login(signed_in_user(bob))
    for page in (f"/portal/keys/{key.pk}/", f"/portal/keys/{key.pk}/created/", f"/portal/keys/{key.pk}/revoke/"):
        response = browser.get(page)
        assert response.status_code == 404, page
        assert key.prefix not in response.content.decode()
    assert browser.post(f"/portal/keys/{key.pk}/revoke/").status_code == 404
    assert key.prefix not in browser.get("/portal/keys/").content.decode()
    assert APIKey.objects.get(pk=key.pk).revoked_at is None
    assert Client().get("/api/v1/credits/balance", headers=bearer(plaintext)).status_code == 200
