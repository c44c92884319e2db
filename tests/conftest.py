"""Shared fixtures: the stand-ins over real HTTP, and an owner, a teammate and a
stranger to act as.

The stand-ins start once per session on free ports; every test starts from their
fresh state and an empty cache.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.test.utils import override_settings

from accounts.models import Account
from standins import Auth0, Clockchain, Flash


def _optional_standins() -> dict:
    extra = {}
    try:
        from standins.stripe import Stripe

        extra["stripe"] = Stripe()
    except ImportError:
        pass
    try:
        from standins.apple import Apple

        extra["apple"] = Apple()
    except ImportError:
        pass
    return extra


@pytest.fixture(scope="session")
def standins() -> dict:
    started = {"flash": Flash(), "clockchain": Clockchain(), "auth0": Auth0(), **_optional_standins()}
    for standin in started.values():
        standin.start()
    yield started
    for standin in started.values():
        standin.stop()


def upstream_settings(standins: dict) -> dict:
    """Settings (= environment variable names) that point the gateway at the stand-ins."""
    from standins.__main__ import environment

    values = environment(standins)
    values["AUTH0_JWKS_URL"] = values["AUTH0_ISSUER"] + ".well-known/jwks.json"
    # Portal sign-in (social-auth) reads its own names, derived from these in settings.py.
    values["SOCIAL_AUTH_AUTH0_DOMAIN"] = values["AUTH0_DOMAIN"]
    values["SOCIAL_AUTH_AUTH0_KEY"] = values["AUTH0_CLIENT_ID"]
    values["SOCIAL_AUTH_AUTH0_SECRET"] = values["AUTH0_CLIENT_SECRET"]
    return values


@pytest.fixture(scope="session", autouse=True)
def _point_at_standins(standins: dict) -> None:
    override = override_settings(**upstream_settings(standins))
    override.enable()
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _fresh_state(standins: dict) -> None:
    for standin in standins.values():
        standin.reset()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def flash(standins: dict) -> Flash:
    return standins["flash"]


@pytest.fixture
def clockchain(standins: dict) -> Clockchain:
    return standins["clockchain"]


@pytest.fixture
def auth0(standins: dict) -> Auth0:
    return standins["auth0"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _account(flash: Flash, sub: str, email: str, balance: int = 100, **fields) -> Account:
    flash_user_id = flash.add_user(sub, balance=balance)
    return Account.objects.create(external_id=sub, email=email, display_name=email.split("@")[0],
                                  flash_user_id=flash_user_id, **fields)


@pytest.fixture
def alice(db, flash: Flash) -> Account:
    """The owner: an account known to billing and to Flash, with 100 credits."""
    return _account(flash, "auth0|alice", "alice@example.com")


@pytest.fixture
def bob(db, flash: Flash) -> Account:
    """A teammate: another ordinary account."""
    return _account(flash, "auth0|bob", "bob@example.com")


@pytest.fixture
def charlie(db, flash: Flash) -> Account:
    """A stranger, who must see nothing of alice's."""
    return _account(flash, "auth0|charlie", "charlie@example.com")


@pytest.fixture
def alice_token(alice: Account, auth0: Auth0) -> str:
    return auth0.mint(alice.external_id)


@pytest.fixture
def as_alice(alice_token: str) -> Client:
    """A client that sends alice's Auth0 token with every request."""
    return Client(headers=bearer(alice_token))
