"""Where a relayed request's CPU goes: `GET /api/v1/credits/balance` with an API key,
in process (Django's test client, the whole middleware stack, the bench database and
Redis, the Flash stand-in in its own process) under cProfile; prints the functions
with the most CPU of their own and the request path's pieces by cumulative time.

    python -m bench.profile [--requests 2000] [--top 25] [--save FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from . import harness


def run(requests: int, top: int, save: str | None = None) -> None:
    harness.setup_django()
    from django.conf import settings
    from django.test import Client

    from metering.writer import usage_writer

    with harness.standins() as upstreams:
        for name, value in upstreams.environment().items():
            setattr(settings, name, value)
        key = harness.bench_keys(upstreams, "profile")[0]
        client = Client(headers={"Authorization": f"Bearer {key}"})
        for _ in range(200):  # warm: caches, pools, lazy imports
            client.get("/api/v1/credits/balance")
        usage_writer.flush()
        profiler = cProfile.Profile(time.process_time)
        started = time.process_time()
        profiler.enable()
        for _ in range(requests):
            assert client.get("/api/v1/credits/balance").status_code == 200
        profiler.disable()
        cpu = (time.process_time() - started) / requests * 1000
        usage_writer.flush()
    print(f"\nCPU per relayed balance read, in process: {cpu:.2f} ms (n={requests}; the usage writer runs in "
          f"a thread of this process: counted in the CPU, not in the profile)")
    stats = pstats.Stats(profiler)
    if save:
        stats.dump_stats(save)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(
        r"(admission|counters|slots|failures|authentication|transport|recording|writer|middleware|views|handlers/base|"
        r"redis/commands/core|connectionpool)\.py", 40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", help="also write the raw profile here (pstats format)")
    args = parser.parse_args()
    run(args.requests, args.top, args.save)


if __name__ == "__main__":
    main()
