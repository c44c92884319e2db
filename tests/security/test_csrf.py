"""Every form the portal renders is CSRF-protected: found by rendering the portal's
pages as a signed-in user, so forms added later are swept too."""

from __future__ import annotations

import re

import pytest
import requests
from django.test import Client

PAGES = ["/portal/", "/portal/login/"]
FORM = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]*)"', re.I)


def signed_in(auth0, client: Client) -> Client:
    auth0.login_as("auth0|portal-user")
    begin = client.post("/portal/auth/login/auth0/", {"next": "/portal/"})
    at_auth0 = requests.get(begin["Location"], allow_redirects=False, timeout=10)
    client.get(at_auth0.headers["Location"].removeprefix("http://testserver"))
    return client


def portal_forms(client: Client) -> set[str]:
    actions = set()
    for page in PAGES:
        response = client.get(page, follow=True)
        actions |= {action or response.request["PATH_INFO"] for action in FORM.findall(response.content.decode())}
    return actions


@pytest.mark.django_db
def test_every_portal_form_carries_a_token_and_refuses_a_post_without_one(auth0):
    browser = signed_in(auth0, Client())
    browser.handler.enforce_csrf_checks = True  # from now on, as a browser on another site would post
    actions = portal_forms(browser) | portal_forms(Client())
    assert "/portal/logout/" in actions and "/portal/auth/login/auth0/" in actions
    for page in PAGES:
        html = browser.get(page, follow=True).content.decode()
        assert html.count("csrfmiddlewaretoken") >= len(FORM.findall(html)), page
    for action in sorted(actions):
        response = browser.post(action, {"name": "forged", "next": "/portal/"})
        assert response.status_code == 403, action
    # The refusals changed nothing: still signed in.
    assert browser.get("/portal/").status_code == 200
