"""What the gateway adds to a relayed request.

At 1, 20 and 100 connections the same closed-loop load goes to
  - the Flash stand-in directly (`GET /api/v1/credits/balance` with the service key),
  - the bare Django view `/bench/bare` under the same gunicorn and middleware (the floor
    of this stack), and
  - the gateway relaying `GET /api/v1/credits/balance` for an API key of an
    enterprise-tier account (one key per 20 connections: the tier's concurrency limit;
    per-minute limits raised), which authenticates, rate-limits, takes a concurrency
    slot, calls Flash over a pooled connection and writes a usage record.
Prints p50, p99 and requests/s of each, and the relay's ratios to the floor.

    python -m bench.relay_overhead [--connections 1 20 100] [--requests 2000]
"""

from __future__ import annotations

import argparse
import math

from . import harness


def run(connections: list[int], requests_per_level: int, time_cap: float) -> dict[int, dict[str, harness.Result]]:
    harness.setup_django()
    results: dict[int, dict[str, harness.Result]] = {}
    with harness.standins() as upstreams:
        plaintexts = harness.bench_keys(upstreams, "relay", count=max(1, math.ceil(max(connections) / 20)))
        flash_user = upstreams.flash_user("bench|relay")
        with harness.gateway(upstreams) as gateway:
            url = gateway.url
            processes = {"gunicorn": gateway.pid, "stand-in": upstreams.pid}
            direct = (f"{upstreams.flash}/api/v1/credits/balance",
                      {"X-Service-Key": harness.FLASH_SERVICE_KEY, "X-User-ID": flash_user}, None)
            bare = (f"{url}/bench/bare", {}, None)
            relay = (f"{url}/api/v1/credits/balance", {},
                     [{"Authorization": f"Bearer {key}"} for key in plaintexts])
            targets = {"stand-in direct": direct, "bare Django view": bare, "gateway relay": relay}
            for target, headers, per_connection in targets.values():  # warm pools, caches, lazy imports
                harness.load(target, 200, 20, headers, headers_for=per_connection)
            for n in connections:
                total = requests_per_level if n > 1 else max(300, requests_per_level // 4)
                results[n] = {
                    name: harness.measured(processes, lambda t=target, h=headers, p=per_connection: harness.load(
                        t, total, n, h, time_cap=time_cap, headers_for=p))  # noqa: B023
                    for name, (target, headers, per_connection) in targets.items()
                }
    return results


def report(results: dict[int, dict[str, harness.Result]]) -> None:
    for n, rows in results.items():
        harness.print_table(f"GET /api/v1/credits/balance at {n} connection(s); gunicorn gthread 2x16, "
                            f"PostgreSQL + Redis", list(rows.items()), baseline="bare Django view")
        relay, bare, direct = rows["gateway relay"], rows["bare Django view"], rows["stand-in direct"]
        print(f"  relay added over the stand-in: p50 +{relay.p50 - direct.p50:.2f} ms; "
              f"relay req/s = {relay.rps / bare.rps:.0%} of the bare view's (target >= 60%)"
              + ("; added p50 target < 3 ms" if n == 1 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--requests", type=int, default=2000, help="per target and level (a quarter at 1)")
    parser.add_argument("--time-cap", type=float, default=10.0, help="seconds per target and level")
    args = parser.parse_args()
    print(harness.machine())
    report(run(args.connections, args.requests, args.time_cap))


if __name__ == "__main__":
    main()
