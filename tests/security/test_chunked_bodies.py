"""Bodies sent with `Transfer-Encoding: chunked` and no Content-Length (CONTRACT.md §4):
read whole under gunicorn on every route that takes a body, refused with 413 above
MAX_REQUEST_BODY_BYTES, and refused with 400 (never acted on as an empty body) when
the body cannot be read whole.

A raw socket client sends the requests: HTTP libraries add a Content-Length
whenever they know the body's size, which is exactly what must be absent here.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from accounts.models import SessionToken
from apikeys.models import APIKey
from payments.models import CreditGrant, StripeEvent
from tests.conftest import _free_port, bearer, upstream_settings
from tests.payments.conftest import completed_session

WORKER_CLASSES = [
    "gthread",
    pytest.param("gevent", marks=pytest.mark.skipif(importlib.util.find_spec("gevent") is None,
                                                     reason="gevent is not installed")),
]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def _read_answer(reader) -> Answer:
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int(reader.readline().split(b";")[0], 16):
            parts.append(reader.read(size))
            reader.readline()
        while reader.readline() not in (b"\r\n", b""):  # trailers
            pass
        body = b"".join(parts)
    else:
        body = reader.read()
    return Answer(status, headers, body)


def send_chunked(url: str, method: str, path: str, body: bytes, headers: dict[str, str] | None = None,
                 chunk_size: int = 1000, raw_chunks: bytes | None = None) -> Answer:
    """One request whose body goes as `chunk_size` chunks, with no Content-Length
    (or `raw_chunks` as the whole encoded body, to send a malformed one)."""
    parts = urlsplit(url)
    head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Transfer-Encoding: chunked",
            *(f"{name}: {value}" for name, value in (headers or {}).items()), "", ""]
    if raw_chunks is None:
        raw_chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk_size]), body[i:i + chunk_size])
                              for i in range(0, len(body), chunk_size)) + b"0\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode("latin-1") + raw_chunks)
        with sock.makefile("rb") as reader:
            return _read_answer(reader)


def _json(value: dict) -> bytes:
    return json.dumps(value).encode()


def _receipt(name: str) -> str:
    return base64.b64encode(name.encode()).decode()


@pytest.mark.gunicorn
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_it_reads_chunked_bodies_whole_on_every_body_route(gunicorn_server, worker_class, subtests, caller,
                                                           alice_token, standins, flash):
    url = gunicorn_server(workers=1, worker_class=worker_class)
    auth = {**bearer(alice_token), "Content-Type": "application/json"}
    stripe_api, apple = standins["stripe"], standins["apple"]

    with subtests.test("POST /api/v1/keys"):
        answer = send_chunked(url, "POST", "/api/v1/keys", _json({"name": "chunky key", "environment": "test"}), auth)
        assert answer.status == 201, answer.body
        assert answer.json()["name"] == "chunky key" and answer.json()["environment"] == "test"
        assert APIKey.objects.get().name == "chunky key"

    generation = _json({"query": "The fall of Constantinople, 1453", "preset": "hyper"})
    for path, upstream in (("/api/v1/generate", "/generate/sync$"), ("/api/v1/generate/stream", "/generate/stream$")):
        with subtests.test(f"POST {path}"):
            # Small chunks: the body arrives in many pieces and must reach Flash as one.
            answer = send_chunked(url, "POST", path, generation, auth, chunk_size=7)
            assert answer.status == 200, answer.body
            (sent,) = flash.received(upstream, "POST")
            assert sent.body == generation
            assert sent.headers["content-length"] == str(len(generation))
            assert "transfer-encoding" not in sent.headers

    with subtests.test("PATCH /api/v1/timepoints/{id}/visibility"):
        created = send_chunked(url, "POST", "/api/v1/generate", generation, auth).json()
        visibility = _json({"visibility": "public"})
        answer = send_chunked(url, "PATCH", f"/api/v1/timepoints/{created['id']}/visibility", visibility, auth)
        assert answer.status == 200, answer.body
        assert flash.received("/visibility$", "PATCH")[0].body == visibility

    with subtests.test("POST /api/v1/billing/checkout"):
        answer = send_chunked(url, "POST", "/api/v1/billing/checkout", _json({"package": "500_credits"}), auth)
        assert answer.status == 200, answer.body
        (created,) = stripe_api.received("/v1/checkout/sessions$", "POST")
        assert stripe_api.params(created)["metadata"]["package"] == "500_credits"

    with subtests.test("POST /api/v1/billing/portal"):
        answer = send_chunked(url, "POST", "/api/v1/billing/portal", b"{}", auth)
        assert answer.status == 200, answer.body
        assert answer.json()["url"]

    with subtests.test("POST /api/v1/billing/verify-receipt"):
        apple.add_receipt(_receipt("chunked"), [{"product_id": "com.timepointai.credits.100",
                                                 "transaction_id": "2000000001", "purchase_date_ms": "1700000000000"}])
        answer = send_chunked(url, "POST", "/api/v1/billing/verify-receipt",
                              _json({"receipt_data": _receipt("chunked")}), auth)
        assert answer.status == 200, answer.body
        assert answer.json()["granted"] is True
        assert apple.received("/verifyReceipt$")[0].json()["receipt-data"] == _receipt("chunked")

    with subtests.test("POST /api/v1/billing/webhooks/stripe"):
        # The signature covers the exact body: it verifies only if the body arrived whole.
        event = stripe_api.event("checkout.session.completed", completed_session(caller, session_id="cs_chunked"))
        body, signature = stripe_api.signed(event)
        answer = send_chunked(url, "POST", "/api/v1/billing/webhooks/stripe", body.encode(),
                              {**signature, "Content-Type": "application/json"})
        assert answer.status == 200, answer.body
        assert StripeEvent.objects.filter(stripe_id=event["id"]).exists()
        assert CreditGrant.objects.filter(stripe_object_id="cs_chunked").exists()

    with subtests.test("POST /api/v1/auth/login and logout"):
        login = send_chunked(url, "POST", "/api/v1/auth/login", b"{}", auth)
        assert login.status == 200, login.body
        session = login.json()["session_token"]
        logout = send_chunked(url, "POST", "/api/v1/auth/logout", b"{}",
                              {**bearer(session), "Content-Type": "application/json"})
        assert logout.status == 204, logout.body
        assert SessionToken.objects.get().revoked_at is not None
        assert requests.get(url + "/api/v1/auth/me", headers=bearer(session), timeout=10).status_code == 401


BODY_ROUTES = [
    ("POST", "/api/v1/keys"),
    ("POST", "/api/v1/generate"),
    ("POST", "/api/v1/generate/stream"),
    ("PATCH", "/api/v1/timepoints/tp-1/visibility"),
    ("POST", "/api/v1/billing/checkout"),
    ("POST", "/api/v1/billing/portal"),
    ("POST", "/api/v1/billing/verify-receipt"),
    ("POST", "/api/v1/billing/webhooks/stripe"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
]


@pytest.mark.gunicorn
def test_it_refuses_chunked_bodies_it_cannot_take_whole(gunicorn_server, subtests, caller, alice_token, standins):
    url = gunicorn_server(workers=1, env={"MAX_REQUEST_BODY_BYTES": "4096"})
    headers = {**bearer(alice_token), "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=0"}
    oversized = _json({"name": "k", "query": "x" * 20_000, "receipt_data": "x"})

    for method, path in BODY_ROUTES:
        with subtests.test(f"{method} {path} too large"):
            answer = send_chunked(url, method, path, oversized, headers)
            assert answer.status == 413, answer.body
            assert answer.json()["error"]["code"] == "request_too_large"
            assert answer.headers.get("x-request-id")

    with subtests.test("a chunk size that is not hexadecimal"):
        answer = send_chunked(url, "POST", "/api/v1/generate", b"", headers,
                              raw_chunks=b'zz\r\n{"query": "x"}\r\n0\r\n\r\n')
        assert answer.status == 400, answer.body
        assert answer.json()["error"]["code"] == "invalid_request"

    # Refused before authentication: nothing was looked up, stored or forwarded.
    assert all(standin.received() == [] for standin in standins.values())
    assert not APIKey.objects.exists() and not StripeEvent.objects.exists() and not CreditGrant.objects.exists()

    with subtests.test("a body just under the limit is taken"):
        body = _json({"query": "y" * 4000})
        answer = send_chunked(url, "POST", "/api/v1/generate", body, headers)
        assert answer.status == 200, answer.body
        assert standins["flash"].received("/generate/sync$")[0].body == body


def test_it_refuses_a_chunked_body_a_server_cannot_decode(tmp_path, standins):
    """runserver hands the raw chunked stream over without saying it ends
    (no wsgi.input_terminated): the request is refused, not served with no body."""
    port = _free_port()
    environment = {**os.environ, **upstream_settings(standins), "ENVIRONMENT": "test", "DEBUG": "false",
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}", "REDIS_URL": ""}
    log_path = tmp_path / "runserver.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=Path(settings.BASE_DIR), env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/health", timeout=2)
                break
            except requests.RequestException:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("runserver did not start: " + log_path.read_text(errors="replace")[-2000:])
                time.sleep(0.05)

        answer = send_chunked(url, "POST", "/api/v1/generate", _json({"query": "Rome", "preset": "hyper"}),
                              {"Content-Type": "application/json"})

        assert answer.status == 400, answer.body
        assert answer.json()["error"]["code"] == "invalid_request"
        assert "Content-Length" in answer.json()["error"]["message"]
        assert standins["flash"].received() == []
    finally:
        server.terminate()
        server.wait(timeout=10)
