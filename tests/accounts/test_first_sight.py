"""First sight of an Auth0 identity: one Account, one Flash resolve, nothing half-made."""

from __future__ import annotations

import socket
import threading

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Account
from tests.conftest import bearer


def me(token: str):
    return Client().get("/api/v1/auth/me", headers=bearer(token))


def resolves(flash) -> int:
    return len(flash.received(r"/api/v1/users/resolve$"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_it_links_a_new_identity_on_a_direct_api_call(auth0, flash):
    response = me(auth0.mint("auth0|direct", email="direct@example.com"))
    assert response.status_code == 200
    account = Account.objects.get(external_id="auth0|direct")
    assert account.flash_user_id == flash.users["auth0|direct"]
    assert account.email == "direct@example.com"
    assert account.last_seen_at is not None
    assert resolves(flash) == 1

    assert me(auth0.mint("auth0|direct")).status_code == 200
    assert resolves(flash) == 1  # known now: Flash is not asked again


@pytest.mark.django_db
def test_it_keeps_a_profile_it_cannot_store_whole_cut_to_fit(auth0, flash):
    # The name and email are the identity provider's (often the person's own typing):
    # a first request must not fail on them. A name is cut to its column, NUL
    # characters (which PostgreSQL text cannot hold) dropped; an email that does not
    # fit is not kept at all (cut, it would be someone else's address).
    name = "Ada\x00" + "L" * 300
    response = me(auth0.mint("auth0|verbose", name=name, email="a" * 300 + "@example.com"))
    assert response.status_code == 200, response.content
    account = Account.objects.get(external_id="auth0|verbose")
    assert account.display_name == ("Ada" + "L" * 300)[:255]
    assert account.email == ""
    (resolve,) = flash.received(r"/api/v1/users/resolve$")
    assert resolve.json() == {"external_id": "auth0|verbose", "display_name": account.display_name}


@pytest.mark.django_db
def test_it_keeps_a_profile_holding_a_lone_surrogate_without_it(auth0, flash):
    # A lone surrogate is a legal JSON escape with no UTF-8 form: PostgreSQL cannot be
    # sent it, and every request of that person was a 500.
    response = me(auth0.mint("auth0|odd", name="Ada\ud800 Lovelace", email="ada\udfff@example.com"))
    assert response.status_code == 200, response.content
    account = Account.objects.get(external_id="auth0|odd")
    assert (account.display_name, account.email) == ("Ada Lovelace", "")


@pytest.mark.django_db
@pytest.mark.parametrize("sub", ["auth0|" + "s" * 300, "auth0|nul\x00sub", "auth0|lone\ud800surrogate"])
def test_it_refuses_a_subject_it_cannot_keep(auth0, flash, sub):
    response = me(auth0.mint(sub))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert resolves(flash) == 0
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_it_answers_503_and_keeps_nothing_when_flash_is_down(auth0, flash, settings):
    token = auth0.mint("auth0|unlucky")
    flash_url = settings.FLASH_URL
    settings.FLASH_URL = f"http://127.0.0.1:{closed_port()}"
    response = me(token)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert not Account.objects.filter(external_id="auth0|unlucky").exists()

    settings.FLASH_URL = flash_url
    response = me(token)
    assert response.status_code == 200
    assert Account.objects.filter(external_id="auth0|unlucky").count() == 1


@pytest.mark.django_db
def test_it_keeps_nothing_when_flash_answers_an_error(auth0, flash):
    flash.fail(500, path=r"/users/resolve$")
    response = me(auth0.mint("auth0|errored"))
    assert response.status_code == 502
    assert not Account.objects.filter(external_id="auth0|errored").exists()
    assert me(auth0.mint("auth0|errored")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", ["u" * 65, "a\x00b", "caf\u20ac", None, ["u1"]])
def test_it_answers_502_and_keeps_nothing_when_flash_names_a_user_id_it_cannot_keep(auth0, flash, user_id):
    flash.fail(200, body={"user_id": user_id}, path=r"/users/resolve$")
    response = me(auth0.mint("auth0|odd-id"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert not Account.objects.filter(external_id="auth0|odd-id").exists()


@pytest.mark.django_db(transaction=True)
def test_it_resolves_once_when_ten_first_requests_arrive_together(auth0, flash):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no real race to test")
    # Flash takes a moment, so the other nine arrive while the first is still inside it.
    flash.slow(0.3, path=r"/users/resolve$", times=None)
    token = auth0.mint("auth0|crowd", email="crowd@example.com")
    me(auth0.mint("auth0|warm-the-jwks-cache"))
    flash.requests.clear()

    start = threading.Barrier(10)
    statuses: list[int] = []

    def first_request() -> None:
        try:
            start.wait(timeout=10)
            statuses.append(me(token).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * 10
    assert resolves(flash) == 1
    assert Account.objects.filter(external_id="auth0|crowd").count() == 1
