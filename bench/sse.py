"""SSE first-event delay: how long after the Flash stand-in sends a stream's first
event the client has it, straight from the stand-in and through the gateway
(`POST /api/v1/generate/stream` with an API key, under gunicorn).

The stand-in stamps each progress event with `sent_at` (its wall clock, the same
machine's); the client notes the arrival of the first complete event. One stream at a
time, so the figure is the relay's, not a queue's.

    python -m bench.sse [--streams 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from urllib.parse import urlsplit

from . import harness

BODY = json.dumps({"query": "the signing of the Magna Carta", "preset": "balanced"}).encode()


def first_event_delay(url: str, headers: dict[str, str]) -> float:
    """Seconds between the stand-in's `sent_at` of the first event and its arrival here."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path, body=BODY,
                     headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}: {response.read()[:300]!r}")
        buffer = b""
        while b"\n\n" not in buffer:
            chunk = response.read1(65536)
            if not chunk:
                raise SystemExit(f"{url} ended before its first event")
            buffer += chunk
        arrived = time.time()
        event = buffer.split(b"\n\n", 1)[0].decode()
        data = next(line[5:].strip() for line in event.splitlines() if line.startswith("data:"))
        return arrived - json.loads(data)["sent_at"]
    finally:
        conn.close()


def run(streams: int) -> dict[str, harness.Result]:
    harness.setup_django()
    with harness.standins() as upstreams:
        plaintext = harness.bench_keys(upstreams, "sse", balance=10 * streams + 1000)[0]
        flash_user = upstreams.flash_user("bench|sse")
        with harness.gateway(upstreams) as gateway:
            url = gateway.url
            targets = {
                "stand-in direct": (f"{upstreams.flash}/api/v1/timepoints/generate/stream",
                                    {"X-Service-Key": harness.FLASH_SERVICE_KEY, "X-User-ID": flash_user}),
                "gateway relay": (f"{url}/api/v1/generate/stream", {"Authorization": f"Bearer {plaintext}"}),
            }
            for target, headers in targets.values():
                for _ in range(10):
                    first_event_delay(target, headers)
            results = {}
            for name, (target, headers) in targets.items():
                result = harness.Result()
                t0 = time.perf_counter()
                for _ in range(streams):
                    result.latencies.append(first_event_delay(target, headers))
                result.elapsed = time.perf_counter() - t0
                result.statuses = {200: streams}
                results[name] = result
    return results


def report(results: dict[str, harness.Result]) -> None:
    print("\nSSE first-event delay (stand-in's sent_at → arrival at the client), one stream at a time")
    print(f"  {'':22} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in results.items():
        print(f"  {name:22} {row.count:6d} {row.p50:8.2f} {row.p99:8.2f}")
    relay, direct = results["gateway relay"], results["stand-in direct"]
    print(f"  gateway - direct: p50 +{relay.p50 - direct.p50:.2f} ms, p99 +{relay.p99 - direct.p99:.2f} ms "
          f"(target: first event within 20 ms of the stand-in sending it: "
          f"{'met' if relay.p99 < 20 else 'p50 ' + ('met' if relay.p50 < 20 else 'missed')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    report(run(args.streams))


if __name__ == "__main__":
    main()
