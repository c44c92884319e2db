"""Where a gateway worker's CPU goes under load, sampled rather than traced: the gateway
under gunicorn.conf.py (gevent, 2 workers) answers relayed balance reads at 16
connections (or, with `--streams N`, N streams opened at once) while py-spy samples both
workers; prints the request path's pieces as shares of the workers' busy samples.

Unlike bench/profile.py (cProfile, in process, Django's test client) nothing is
instrumented: a function made of many small calls is not inflated, and what the
production worker does (gunicorn's parsing and writing, the event loop, the usage
writer's batches) is counted. Needs py-spy (requirements-dev.txt) and the right to
ptrace the workers (root, or kernel.yama.ptrace_scope 0).

    python -m bench.sample [--requests 20000] [--rate 500] [--streams 0] [--save DIR]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import harness

# A piece of the request path: the frames whose samples it counts (inclusive), less
# those of pieces inside it. Frames are py-spy's `function (file)`.
PIECES: list[tuple[str, str, tuple[str, ...]]] = [
    ("gunicorn: parsing the request, writing the answer, the event loop", "AsyncWorker.handle (",
     ("WholeBodies.__call__ (",)),
    ("the request path: the read lane's own code (API-key credit reads) or Django's handler, middleware, URL "
     "resolving and DRF; the views' own code", "WholeBodies.__call__ (",
     ("BearerAuthentication.authenticate (", "send (upstreams/transport.py)", "Slot.release (",
      "record (metering/recording.py)", "GenerationView.prepare (", "EventRelay.__iter__ (")),
    ("the admission: authentication, its Redis command (admit.lua) awaited", "BearerAuthentication.authenticate (",
     ()),
    ("a generation's balance pre-check (a Flash call)", "GenerationView.prepare (", ()),
    ("the upstream call (the read, or opening the stream at Flash)", "send (upstreams/transport.py)",
     ("GenerationView.prepare (",)),
    ("the slot's release, its Redis command awaited", "Slot.release (", ()),
    ("the usage record, queued", "record (metering/recording.py)", ()),
    ("handing on stream events", "EventRelay.__iter__ (", ()),
    ("the usage writer's batched INSERTs (its own greenlet)", "UsageWriter._run (", ()),
    ("the Redis exchanges: the commands of the requests waiting together, in one write (limits/batching.py, "
     "its own greenlet)", "Batcher._send_waiting (", ()),
]
# Samples of threads waiting in gevent's thread pool (the DNS resolver's) are not work.
IDLE = ("acquire_with_timeout (gevent/_threading.py)",)
WRITES = "SocketMixin.sendall ("


def _normal(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def aggregate(files: list[Path]) -> tuple[int, dict[str, int], int]:
    """Busy samples, samples per piece (inclusive less nested pieces), samples in socket writes."""
    busy, writes = 0, 0
    counts: dict[str, int] = collections.Counter()
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = [_normal(f) for f in stack.split(";")]
            if frames and frames[-1].startswith(IDLE):
                continue
            busy += int(n)
            joined = ";".join(frames)
            if WRITES in joined:
                writes += int(n)
            for label, frame, minus in PIECES:
                if frame in joined and not any(m in joined for m in minus):
                    counts[label] += int(n)
    return busy, counts, writes


def run(requests: int, rate: int, streams: int, save: str | None) -> tuple[int, dict[str, int], int, str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install -r requirements-dev.txt")
    harness.setup_django()
    from .streams import BODY

    out = Path(save) if save else Path(tempfile.mkdtemp(prefix="bench-sample-"))
    out.mkdir(parents=True, exist_ok=True)
    with harness.standins(stream_events=3, stream_interval=0.5) as upstreams:
        keys = []
        for n in range(3 if streams else 1):
            keys += harness.bench_keys(upstreams, f"streams-{n}" if streams else "relay", count=20 if streams else 1,
                                       balance=10 * streams + 100)
        headers = [{"Authorization": f"Bearer {key}"} for key in keys]
        with harness.gateway(upstreams) as gateway:
            url = f"{gateway.url}/api/v1/credits/balance"
            harness.load(url, 2000, 16, headers_for=headers)  # warm pools, caches, imports
            harness.warm_keys(url, keys)
            workers = harness.with_children(gateway.pid)[1:]
            samplers = [subprocess.Popen([spy, "record", "--nonblocking", "-r", str(rate), "-f", "raw",  # noqa: S603
                                          "-o", str(out / f"worker-{pid}.txt"), "-p", str(pid)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]
            harness.load(url, 200, 4, headers_for=headers)  # while the samplers attach
            if streams:
                harness.streams(f"{gateway.url}/api/v1/generate/stream", streams, BODY,
                                lambda i: headers[i % len(headers)], pid=gateway.pid, time_cap=60)
                what = f"{streams} streams opened at once (3 events, 0.5 s apart)"
            else:
                harness.load(url, requests, 16, headers_for=headers, time_cap=60)
                what = f"{requests} relayed balance reads at 16 connections"
            for sampler in samplers:
                sampler.send_signal(signal.SIGINT)
            for sampler in samplers:
                sampler.wait(30)
    busy, counts, writes = aggregate(sorted(out.glob("worker-*.txt")))
    return busy, counts, writes, what


def report(busy: int, counts: dict[str, int], writes: int, what: str) -> None:
    print(f"\nWhere the gateway workers' CPU went: {what}; {busy} busy samples of 2 workers")
    for label, _, _ in PIECES:
        if counts.get(label):
            print(f"  {100 * counts[label] / max(1, busy):5.1f} %  {label}")
    other = busy - sum(counts.values())
    print(f"  {100 * other / max(1, busy):5.1f} %  none of these (gevent's loop between greenlets, ...)")
    print(f"  of all of it, {100 * writes / max(1, busy):.1f} % in socket writes (each wakes Redis, Flash or the "
          f"client)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500, help="samples per second and worker")
    parser.add_argument("--streams", type=int, default=0, help="sample a burst of this many streams instead")
    parser.add_argument("--save", help="keep the raw samples (collapsed stacks) in this directory")
    args = parser.parse_args()
    report(*run(args.requests, args.rate, args.streams, args.save))


if __name__ == "__main__":
    main()
