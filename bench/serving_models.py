"""Which serving model: gunicorn's gevent worker (synchronous Django, urllib3) or ASGI
(uvicorn workers under gunicorn, async Django views, httpx), measured with the same
relay in each (bench/serving_proto.py: no middleware, no authentication, no database,
so that only the serving model differs).

Both run as 2 workers in front of the same Flash stand-in process:
  - a relayed `GET` of the balance, closed loop at 1 and 16 connections;
  - N concurrent relayed streams (E events, I seconds apart), opened at once: first
    event delay, completion, a balance read every 100 ms meanwhile, the instance's RSS.

    python -m bench.serving_models [--streams 1000] [--events 10] [--interval 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

from . import harness

MODELS = {
    "gevent (sync Django)": (["-k", "gevent", "--worker-connections", "2000"], "wsgi", "/proto"),
    "ASGI (uvicorn, async)": (["-k", "uvicorn_worker.UvicornWorker"], "asgi", "/aproto"),
}


@contextlib.contextmanager
def server(args: list[str], entry: str, upstreams: harness.StandIns, user: str) -> Iterator[harness.Gateway]:
    port = harness.free_port()
    env = harness.base_environment(DJANGO_SETTINGS_MODULE="bench.serving_proto", PROTO_ENTRY=entry,
                                   PROTO_FLASH_URL=upstreams.flash, PROTO_FLASH_KEY=harness.FLASH_SERVICE_KEY,
                                   PROTO_USER=user)
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", *args, "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--no-control-socket", "--log-level", "warning", "--timeout", "60", f"bench.serving_proto:{entry}"],
        cwd=harness.ROOT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        harness.wait_until_up(url + ("/proto/balance" if entry == "wsgi" else "/aproto/balance"))
        yield harness.Gateway(url, process.pid)
    finally:
        harness._stop(process)


def run(streams: int, events: int, interval: float, requests: int) -> None:
    body = json.dumps({"query": "the fall of Constantinople", "preset": "balanced"}).encode()
    reads: dict[int, list[tuple[str, harness.Result]]] = {1: [], 16: []}
    streamed: list[tuple[str, harness.StreamsResult]] = []
    with harness.standins(stream_events=events, stream_interval=interval) as upstreams:
        user = upstreams.flash_user("bench|serving", balance=100 * (streams + 100))
        for name, (args, entry, prefix) in MODELS.items():
            with server(args, entry, upstreams, user) as gateway:
                url = gateway.url + prefix
                harness.load(url + "/balance", 300, 16)  # warm up
                for n in reads:
                    reads[n].append((name, harness.measured({"gunicorn": gateway.pid}, lambda n=n, url=url:
                                     harness.load(url + "/balance", requests if n > 1 else requests // 4, n))))
                streamed.append((name, harness.streams(url + "/stream", streams, body, lambda i: {},
                                                       read_url=url + "/balance", pid=gateway.pid)))
    for n, rows in reads.items():
        harness.print_table(f"relayed balance read at {n} connection(s), 2 workers", rows)
    harness.print_streams(f"{streams} concurrent relayed streams ({events} events, {interval:g} s apart), "
                          f"2 workers; a balance read every 100 ms meanwhile", streamed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=4000, help="balance reads at 16 connections (a quarter at 1)")
    args = parser.parse_args()
    print(harness.machine())
    run(args.streams, args.events, args.interval, args.requests)


if __name__ == "__main__":
    main()
