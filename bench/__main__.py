"""`make bench`: every bench in turn with bounded defaults (about five minutes; `--quick`
for a smoke run), each printing its table. Loopback only; see docs/performance.md for
what the figures mean and the latest ones.

    python -m bench [--quick]
"""

from __future__ import annotations

import argparse
import time

from . import harness, keys, metering, reconcile, relay_overhead, sse, streams, webhook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests, streams of 10 events")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    started = time.monotonic()
    print(f"machine: {harness.machine()}")
    print(f"database {harness.database_url().split('@')[-1]}, cache {harness.redis_url()}")
    relay_overhead.report(relay_overhead.run([1, 16], 4000 // scale, time_cap=15.0))
    streams.report(streams.run(1000, 10 if args.quick else 40, 1.0))
    keys.report(keys.run(2000 // scale))
    sse.report(sse.run(200 // scale))
    metering.run(records=100_000 // scale, requests=500 // scale, threads=4)
    webhook.report(webhook.run(300 // scale))
    reconcile.report(reconcile.run(10_000 // scale, 1_000 // scale))
    print(f"\nall benches: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
