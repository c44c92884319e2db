"""relay.streaming.EventRelay over an upstream whose reads are given: what goes on per
read (the gunicorn tests cover the wire)."""

from __future__ import annotations

from relay.streaming import EventRelay

START = b"event: start\ndata: {}\n\n"
PROGRESS = b"event: progress\ndata: {\"step\": 1}\n\n"
DONE = b"event: done\ndata: {\"id\": \"t1\"}\n\n"


class Reads:
    """An upstream response's body arriving in the given pieces."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.closed = False

    def read1(self, size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""

    def close(self) -> None:
        self.closed = True


class Upstream:
    def __init__(self, *pieces: bytes) -> None:
        self.raw = Reads(*pieces)

    def close(self) -> None:
        self.raw.close()


def relay(*pieces: bytes, ending=lambda: None) -> tuple[list[bytes], Upstream]:
    upstream = Upstream(*pieces)
    return list(EventRelay(upstream, "Flash", (b"done",), ending=ending)), upstream


def test_it_hands_on_the_events_of_one_read_in_one_write():
    written, upstream = relay(START + PROGRESS, DONE)
    assert written == [START + PROGRESS, DONE]
    assert upstream.raw.closed


def test_it_holds_back_a_partial_event_until_its_end_arrives():
    written, _ = relay(START + PROGRESS[:10], PROGRESS[10:] + DONE[:5], DONE[5:])
    assert written == [START, PROGRESS, DONE]


def test_the_ending_runs_before_the_write_that_carries_the_last_event():
    written_when_ended = []
    events = []
    relayed = EventRelay(Upstream(START, PROGRESS + DONE), "Flash", (b"done",),
                         ending=lambda: written_when_ended.append(list(events)))
    for piece in relayed:
        events.append(piece)
    assert events == [START, PROGRESS + DONE]
    assert written_when_ended == [[START]]


def test_a_stream_cut_short_ends_with_an_error_event():
    written, _ = relay(START, PROGRESS[:8])
    assert written[0] == START
    assert written[-1].startswith(b"event: error\n") and b"upstream_error" in written[-1]
