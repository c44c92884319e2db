"""A tiny HTTP stand-in framework: routes, a record of every request received, and
faults on command (a status, a delay, a dropped connection, or a real refusal by
closing the listening socket).

Each stand-in runs a ThreadingHTTPServer on 127.0.0.1 in a daemon thread, so the
tests start them in-process on free ports and `python -m standins` starts them on
fixed ports for the quickstart. Over HTTP, `/__standin__/requests`, `/__standin__/fail`
and `/__standin__/reset` give the same control to a process outside.

A stand-in's data lives in memory (each test starts fresh) unless `keep_state_in(dir)`
is called: then what its `state()` returns is written to `<dir>/<name>.json` whenever a
request changed it and on stop, and read back by the next run's `load_state()`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTROL_PREFIX = "/__standin__/"


@dataclass
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """A form-encoded body (Stripe's API) as a flat dict of the last values."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, bytes/str → as is
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None  # chunks written as they come, connection closed after

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body), self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        if self.body is None and self.status in (204, 304):
            return b"", ""
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Fault:
    status: int | None = None  # answer this instead of the route's reply
    body: Any = None
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without an answer
    times: int | None = 1  # None: until reset
    path: str | None = None  # regex the path must match (search)
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


def route(method: str, pattern: str) -> Callable:
    """Mark a stand-in method as the handler of METHOD + a full-match path regex."""

    def mark(fn: Callable) -> Callable:
        fn._route = (method.upper(), re.compile(pattern))
        return fn

    return mark


class StateFileError(Exception):
    """A kept state file that cannot be read back."""


class StandIn:
    name = "standin"

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.state_file: Path | None = None
        self._saved_state: str | None = None
        self._save_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._routes = [
            getattr(self, name)._route + (getattr(self, name),)
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "_route")
        ]
        self.reset_state()

    # --- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"standin-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.save_state()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections would otherwise go on being served: a service that
        # is down answers nobody, pooled clients included.
        with self.lock:
            open_connections, self._connections = list(self._connections), set()
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        self.stop()

    def up(self) -> None:
        if self._server is None:
            self.start()

    # --- state kept across runs ---------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What a restart must not forget, as JSON-able data (subclasses with data
        worth keeping override this and `load_state`)."""
        return {}

    def load_state(self, data: dict[str, Any]) -> None:
        """Take back what `state()` returned in an earlier run (called under the lock)."""

    def keep_state_in(self, directory: str | Path, name: str | None = None) -> StandIn:
        """Keep this stand-in's state in `<directory>/<name>.json` (`name` defaults to the
        stand-in's): read now when the file exists, written after every request that
        changed it and on stop."""
        self.state_file = Path(directory) / f"{name or self.name}.json"
        self._saved_state = json.dumps({})  # nothing to write for a stand-in with nothing to keep
        if self.state_file.exists():
            try:
                data = json.loads(self.state_file.read_text())
            except (OSError, ValueError) as exc:
                raise StateFileError(f"{self.state_file} cannot be read ({exc}); delete it to start afresh") from exc
            with self.lock:
                self.load_state(data)
        self.save_state()
        return self

    def save_state(self) -> None:
        if self.state_file is None:
            return
        with self._save_lock:
            with self.lock:
                text = json.dumps(self.state(), indent=1, sort_keys=True)
            if text == self._saved_state:
                return
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.state_file.with_name(self.state_file.name + ".partial")
            # Owner-only: the Auth0 stand-in's signing key is in there. Written aside and
            # renamed, so that a run stopped mid-write leaves the previous state whole.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(partial, self.state_file)
            self._saved_state = text

    # --- control ----------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.reset_state()
        self.save_state()
        self.up()

    def reset_state(self) -> None:
        """Subclasses put their data back to a fresh start here."""

    def fail(self, status: int | None = 500, *, body: Any = None, delay: float = 0.0, drop: bool = False,
             times: int | None = 1, path: str | None = None, method: str | None = None) -> None:
        """Answer the next `times` matching requests with `status` (or drop them, or
        delay them and then answer normally when status is None)."""
        with self.lock:
            self.faults.append(Fault(status, body, delay, drop, times, path, method))

    def slow(self, seconds: float, *, times: int | None = 1, path: str | None = None) -> None:
        self.fail(None, delay=seconds, times=times, path=path)

    def received(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        """Requests received, optionally those whose path matches a regex (search)."""
        with self.lock:
            return [
                r for r in self.requests
                if (path is None or re.search(path, r.path)) and (method is None or r.method == method.upper())
            ]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def dispatch(self, req: Recorded) -> Reply:
        for method, pattern, fn in self._routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                result = fn(req, **match.groupdict())
                if isinstance(result, Reply):
                    return result
                status, body = result
                return Reply(status, body)
        return Reply(404, {"detail": "Not Found"})

    def _control(self, req: Recorded) -> Reply:
        action = req.path[len(CONTROL_PREFIX):]
        if action == "requests" and req.method == "GET":
            with self.lock:
                return Reply(200, [
                    {"method": r.method, "path": r.path, "query": r.raw_query, "headers": r.headers,
                     "body": r.body.decode("utf-8", "replace")} for r in self.requests
                ])
        if action == "fail" and req.method == "POST":
            self.fail(**(req.json() or {}))
            return Reply(204)
        if action == "reset" and req.method == "POST":
            with self.lock:
                self.requests.clear()
                self.faults.clear()
                self.reset_state()
            self.save_state()
            return Reply(204)
        return Reply(404, {"detail": "unknown control"})


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add
    # ~40 ms to every answer on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        with self.standin.lock:
            self.standin._connections.add(self.connection)
        try:
            super().handle()
        finally:
            with self.standin.lock:
                self.standin._connections.discard(self.connection)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            raw_query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if parts.path.startswith(CONTROL_PREFIX):
            self._write(self.standin._control(req))
            return
        with self.standin.lock:
            self.standin.requests.append(req)
        fault = self.standin._take_fault(req.method, req.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.status is not None:
                self._write(Reply(fault.status, fault.body if fault.body is not None else {"detail": "stand-in fault"}))
                return
        try:
            reply = self.standin.dispatch(req)
        except Exception as exc:  # a stand-in bug should look like an upstream 500
            reply = Reply(500, {"detail": f"stand-in error: {exc!r}"})
        if reply.stream is None:
            self.standin.save_state()  # on disk before the caller hears the answer
            self._write(reply)
            return
        try:
            self._write(reply)
        finally:  # a stream's end may change the data too
            self.standin.save_state()

    def _write(self, reply: Reply) -> None:
        if reply.stream is not None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for chunk in reply.stream:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                close = getattr(reply.stream, "close", None)
                if close is not None:
                    close()  # a generator learns the client went away (GeneratorExit)
            return
        payload, content_type = reply.encoded()
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client (or down()) went first
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
