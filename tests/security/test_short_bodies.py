"""Bodies that end before their Content-Length (CONTRACT.md §4: "a body that cannot be
read whole is refused with 400, never forwarded empty"): under gunicorn, on every
route that takes a body, the request is refused with 400 and nothing is looked up,
stored, forwarded or spent.

A raw socket client sends the requests: it announces a Content-Length, sends fewer
bytes and half-closes its side, which no HTTP library does on purpose.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from apikeys.models import APIKey
from payments.models import CreditGrant, StripeEvent
from tests.conftest import bearer
from tests.security.test_chunked_bodies import BODY_ROUTES, WORKER_CLASSES, Answer, _json, _read_answer


def send_short(url: str, method: str, path: str, body: bytes, content_length: int,
               headers: dict[str, str] | None = None) -> Answer:
    """One request announcing `content_length` bytes and sending `body`, after which
    the client says it has nothing more to send (shutdown SHUT_WR)."""
    parts = urlsplit(url)
    head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {content_length}",
            "Connection: close", *(f"{name}: {value}" for name, value in (headers or {}).items()), "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode("latin-1") + body)
        sock.shutdown(socket.SHUT_WR)
        with sock.makefile("rb") as reader:
            return _read_answer(reader)


@pytest.mark.gunicorn
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_it_refuses_a_body_shorter_than_its_content_length_on_every_body_route(
        gunicorn_server, worker_class, subtests, caller, alice_token, standins, flash):
    url = gunicorn_server(workers=1, worker_class=worker_class)
    headers = {**bearer(alice_token), "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=0"}
    # Each valid JSON on its own: a view acting on what arrived would succeed.
    bodies = {"/api/v1/generate": b'{"query":"ok"}', "/api/v1/timepoints/tp-1/visibility": b'{"visibility":"public"}'}

    for method, path in BODY_ROUTES:
        with subtests.test(f"{method} {path}"):
            body = bodies.get(path, _json({"name": "k", "query": "ok", "receipt_data": "x", "package": "500_credits"}))
            answer = send_short(url, method, path, body, 100, headers)
            assert answer.status == 400, answer.body
            assert answer.json()["error"]["code"] == "invalid_request"
            assert "could not be read whole" in answer.json()["error"]["message"]
            assert answer.headers.get("x-request-id")

    # Refused before authentication: nothing was looked up, stored, forwarded or spent.
    assert all(standin.received() == [] for standin in standins.values())
    assert not APIKey.objects.exists() and not StripeEvent.objects.exists() and not CreditGrant.objects.exists()
    assert flash.balance_of(caller.flash_user_id) == 100

    with subtests.test("a body as long as its Content-Length is taken"):
        body = _json({"query": "ok", "preset": "hyper"})
        answer = send_short(url, "POST", "/api/v1/generate", body, len(body), headers)
        assert answer.status == 200, answer.body
        assert flash.received("/generate/sync$", "POST")[0].body == body
