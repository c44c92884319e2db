"""No token or key reaches a log line, and none comes back in a response (besides the
session token login hands out)."""

from __future__ import annotations

import logging
import socket

import pytest
import requests
from django.test import Client

from tests.conftest import bearer


def every_log_text(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


@pytest.mark.django_db
def test_it_keeps_credentials_out_of_logs_and_responses(caplog, auth0, flash, settings, alice):
    caplog.set_level(logging.DEBUG)
    client = Client()
    good = auth0.mint(alice.external_id)
    expired = auth0.mint(alice.external_id, expires_in=-600)
    newcomer = auth0.mint("auth0|newcomer")
    bodies = []

    login = client.post("/api/v1/auth/login", headers=bearer(good))
    session = login.json()["session_token"]
    bodies.append(login.content.decode().replace(session, ""))
    for token in (session, good, expired, "tp_sess_" + "z" * 40, "garbage-token"):
        bodies.append(client.get("/api/v1/auth/me", headers=bearer(token)).content.decode())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.FLASH_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bodies.append(client.get("/api/v1/auth/me", headers=bearer(newcomer)).content.decode())
    bodies.append(client.post("/api/v1/auth/logout", headers=bearer(session)).content.decode())
    bodies.append(client.post("/api/v1/auth/logout", headers=bearer(session)).content.decode())

    secrets = {"auth0 token": good, "expired token": expired, "new user's token": newcomer,
               "session token": session, "forged session token": "z" * 40,
               "flash service key": flash.service_key, "flash admin key": flash.admin_key,
               "auth0 client secret": auth0.client_secret}
    logs = every_log_text(caplog)
    assert caplog.records, "the failures above should have logged something"
    for name, secret in secrets.items():
        assert secret not in logs, f"{name} in the logs"
        for body in bodies:
            assert secret not in body, f"{name} in a response"


@pytest.mark.django_db
def test_it_keeps_portal_sign_in_secrets_out_of_logs(caplog, auth0):
    caplog.set_level(logging.DEBUG)
    client = Client()
    auth0.login_as("auth0|logged", email="logged@example.com")
    begin = client.post("/portal/auth/login/auth0/", {"next": "/portal/"})
    at_auth0 = requests.get(begin["Location"], allow_redirects=False, timeout=10)
    home = client.get(at_auth0.headers["Location"].removeprefix("http://testserver"), follow=True)
    assert b"Signed in" in home.content

    code = auth0.received(r"/oauth/token$")[0].form()["code"]
    logs = every_log_text(caplog)
    for secret in (code, auth0.client_secret):
        assert secret not in logs
        assert secret not in home.content.decode()
    assert "eyJ" not in logs  # no JWT (access or id token) was logged
