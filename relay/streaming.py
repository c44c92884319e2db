"""Hands an upstream SSE stream to the client event by event (CONTRACT.md §4).

Nothing here waits for more than the upstream has sent: each read returns what has
arrived (`read1`), and the complete events in it are yielded at once, together. When
the client goes away the WSGI server closes the response, which closes this iterator,
the upstream connection and the caller's concurrency slot. When the upstream breaks mid-stream
the client gets a last `event: error` carrying the error envelope.

The generation is over once Flash sends its last event: `ending` (the caller's slot's
release) runs before that event goes on, so a client that opens its next stream the
moment it reads the last event is never refused for the slot of the one that ended.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator

import urllib3

from core.errors import envelope
from upstreams import transport

log = logging.getLogger("relay.streaming")

READ_SIZE = 64 * 1024
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_EVENT_NAME = re.compile(rb"^event:\s?(.*)$", re.MULTILINE)


def error_event(code: str, message: str) -> bytes:
    return f"event: error\ndata: {json.dumps(envelope(code, message))}\n\n".encode()


class EventRelay:
    """An iterable of SSE events read from `response`; `close()` is idempotent and
    releases everything (Django's StreamingHttpResponse calls it when the WSGI
    server is done, whether or not iteration ever started)."""

    def __init__(self, response: transport.UpstreamResponse, service: str, terminal_events: tuple[bytes, ...],
                 ending: Callable[[], None] = lambda: None) -> None:
        self.response = response
        self.service = service
        self.terminal_events = terminal_events
        self.ending = ending
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        buffer = b""
        ended = False
        try:
            while True:
                try:
                    chunk = self.response.raw.read1(READ_SIZE)
                except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
                    log.warning("%s stream timed out", self.service)
                    yield self._last(error_event("upstream_timeout", f"{self.service} stopped sending in time."))
                    return
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    log.warning("%s stream broke: %s", self.service, exc.__class__.__name__)
                    yield self._last(error_event("upstream_error", f"{self.service} broke off the stream."))
                    return
                if not chunk:
                    break
                buffer += chunk
                # Every whole event of this read goes on in one write: each write wakes
                # the client, and events that arrived together gain nothing apart.
                ready = []
                while True:
                    match = _EVENT_END.search(buffer)
                    if match is None:
                        break
                    event, buffer = buffer[:match.end()], buffer[match.end():]
                    name = _EVENT_NAME.search(event)
                    if name is not None and name.group(1).strip() in self.terminal_events:
                        ended = True
                        event = self._last(event)
                    ready.append(event)
                if ready:
                    yield b"".join(ready)
            if buffer.strip() or not ended:
                log.warning("%s stream ended before its last event", self.service)
                yield self._last(error_event("upstream_error", f"{self.service} broke off the stream."))
        finally:
            self.close()

    def _last(self, event: bytes) -> bytes:
        """The stream's last event, with `ending` run before it goes on."""
        self.ending()
        return event

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.response.close()
