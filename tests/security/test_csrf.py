"""Every form the portal renders carries a CSRF token, and a post without one is
refused and changes nothing. Forms are found by rendering the portal's pages, so a
form added to one of them later is swept too."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apikeys.keys import create_key
from apikeys.models import APIKey
from tests.portal.conftest import signed_in_user

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.I | re.S)
ACTION = re.compile(r'action="([^"]*)"', re.I)


def post_forms(client: Client, page: str) -> list[tuple[str, str]]:
    """(action, form html) of each POST form on `page`."""
    response = client.get(page)
    assert response.status_code == 200, page
    forms = []
    for attributes, body in FORM.findall(response.content.decode()):
        if re.search(r'method="post"', attributes, re.I):
            action = ACTION.search(attributes)
            forms.append((action.group(1) if action and action.group(1) else page, body))
    return forms


@pytest.mark.django_db
def test_every_portal_form_carries_a_token_and_refuses_a_post_without_one(alice, flash):
    key, plaintext = create_key(alice, "alice's", "live")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(signed_in_user(alice))
    pages = ["/portal/", "/portal/keys/", f"/portal/keys/{key.pk}/", f"/portal/keys/{key.pk}/revoke/",
             "/portal/credits/", "/portal/plan/", "/portal/docs/"]
    forms = {(action, body) for page in pages for action, body in post_forms(browser, page)}
    forms |= set(post_forms(Client(enforce_csrf_checks=True), "/portal/login/"))
    actions = {action for action, _ in forms}
    assert {"/portal/logout/", "/portal/keys/new/", f"/portal/keys/{key.pk}/revoke/", "/portal/credits/buy/",
            "/portal/auth/login/auth0/"} <= actions
    for action, body in forms:
        assert "csrfmiddlewaretoken" in body, action
    for action in sorted(actions):
        response = browser.post(action, {"name": "forged", "environment": "live", "package": "100_credits",
                                          "plan": "explorer"})
        assert response.status_code == 403, action
    # The refusals changed nothing: the key lives, no key was added, still signed in.
    assert list(APIKey.objects.values_list("pk", "revoked_at")) == [(key.pk, None)]
    assert browser.get("/portal/keys/").status_code == 200
