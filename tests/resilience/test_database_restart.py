"""PostgreSQL going away under a running gateway (as in a restart: every connection
cut, new ones refused) and coming back: requests fail cleanly with 503 meanwhile and
succeed again afterwards, without restarting the gateway.

The shared cluster is never restarted: the gateway reaches PostgreSQL through a small
TCP relay that the test cuts and restores."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.db import connection

from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn


class CuttableRelay:
    """127.0.0.1:<port> → PostgreSQL, until `cut()` (connections dropped, new ones
    refused); `restore()` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port, self.listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            cut, self.sockets = self.sockets, []
        for s in cut:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_requests_fail_cleanly_while_postgresql_is_gone_and_recover_after(gunicorn_server, alice, auth0):
    settings_dict = connection.settings_dict
    relay = CuttableRelay((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    relay.restore()
    parts = urlsplit(os.environ["DATABASE_URL"])
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{relay.port}"
    url = gunicorn_server(workers=1, production=True, env={
        "DATABASE_URL": urlunsplit(parts._replace(netloc=netloc, path="/" + settings_dict["NAME"]))})
    me = f"{url}/api/v1/keys"  # reads the database on every call
    headers = bearer(auth0.mint(alice.external_id))
    try:
        assert requests.get(me, headers=headers, timeout=10).status_code == 200

        relay.cut()
        down = requests.get(me, headers=headers, timeout=10)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "upstream_unavailable"
        assert int(down.headers["Retry-After"]) >= 1
        assert "Traceback" not in down.text
        assert requests.get(f"{url}/health/ready", timeout=10).status_code == 503
        assert requests.get(f"{url}/health", timeout=10).status_code == 200

        relay.restore()
        assert requests.get(me, headers=headers, timeout=10).status_code == 200
    finally:
        relay.cut()
