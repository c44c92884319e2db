"""API-key verification cost per request, in process on the bench database and Redis.

Times `BearerAuthentication.authenticate` (what DRF runs for every `/api/v1/` request
with a key) with the key's record cached and with the cache entry dropped before each
call, and counts the database queries of a cached verification (the target: none).

    python -m bench.keys [--requests 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from . import harness


def _timed(n: int, authenticate, before=None) -> list[float]:
    samples = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        authenticate()
        samples.append(time.perf_counter() - t0)
    return samples


def run(n: int) -> dict[str, object]:
    harness.setup_django()
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request

    from apikeys import keys
    from gateway.authentication import BearerAuthentication
    from limits.counters import counters

    with harness.standins() as upstreams:
        plaintext = harness.bench_keys(upstreams, "keys")[0]
    factory = RequestFactory()
    auth = BearerAuthentication()

    def authenticate() -> None:
        request = Request(factory.get("/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))
        account, credential = auth.authenticate(request)
        assert credential.api_key is not None

    def drop_cached() -> None:
        counters().drop_records([keys.hash_key(plaintext)])

    authenticate()  # caches the record and marks the key used for this minute
    with CaptureQueriesContext(connection) as queries:
        authenticate()
    cached = _timed(n, authenticate)
    uncached = _timed(max(100, n // 4), authenticate, before=drop_cached)
    return {"queries": len(queries), "sql": [q["sql"][:100] for q in queries.captured_queries],
            "cached": cached, "uncached": uncached}


def report(results: dict[str, object]) -> None:
    print("\nAPI-key verification (BearerAuthentication.authenticate, in process, PostgreSQL + Redis)")
    print(f"  {'':22} {'n':>6} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("cached", "uncached"):
        samples = sorted(results[name])
        print(f"  {name:22} {len(samples):6d} {statistics.mean(samples) * 1e3:8.3f} "
              f"{statistics.median(samples) * 1e3:8.3f} {samples[int(len(samples) * 0.99)] * 1e3:8.3f}")
    ratio = statistics.median(results["uncached"]) / statistics.median(results["cached"])
    verdict = "target met" if results["queries"] == 0 else "TARGET MISSED: " + "; ".join(results["sql"])
    print(f"  uncached / cached p50: {ratio:.2f}; database queries for a cached key: {results['queries']} "
          f"({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    report(run(args.requests))


if __name__ == "__main__":
    main()
