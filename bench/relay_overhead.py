"""What the gateway adds to a relayed request, against the floor of a relay on this stack.

In one run, at 1 and 16 connections, the same closed-loop load goes to
  - the Flash stand-in directly (`GET /api/v1/credits/balance` with the service key),
  - the bare relay: one Django view, no middleware, forwarding the same request to the
    same stand-in through a pooled urllib3 client, under the same gunicorn settings
    (gunicorn.conf.py: gevent, 2 workers; bench/serving_proto.py),
  - the bare relay with the shared limits: the same view plus what CONTRACT.md §5
    makes every relayed API-key read do in Redis, through the gateway's own code
    (limits.counters: admit.lua before the upstream call, the slot's release after),
    and nothing else — the floor of any request path that keeps the contract's limits,
  - the gateway relaying `GET /api/v1/credits/balance` for API keys of an
    enterprise-tier account (one key per 20 connections: the tier's concurrency limit;
    per-minute limits raised), which authenticates, counts its limits and takes a
    concurrency slot (one Redis round trip), calls Flash, releases the slot (one more)
    and queues a usage record: once with READ_LANE=false (every request through
    Django's middleware and DRF) and once as it runs (the read lane:
    timepoint_billing/read_lane.py).
Prints p50, p99, requests/s and CPU per request of each, the gateway's ratios to the
bare relay, and, after the gateways' graceful stop, whether every request each
answered left a usage record.

    python -m bench.relay_overhead [--connections 1 16] [--requests 4000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import math

from . import harness

TARGETS = ("stand-in direct", "bare relay", "bare relay + limits", "gateway, all through Django", "gateway")
LIMITED = "bare relay + limits"
DJANGO = "gateway, all through Django"
METERED = (DJANGO, "gateway")


def run(connections: list[int], requests_per_level: int, time_cap: float, rounds: int = 1) -> dict:
    harness.setup_django()
    from accounts.models import Account
    from metering.models import UsageRecord

    results: dict[int, dict[str, harness.Result]] = {}
    with harness.standins() as upstreams:
        count = max(1, math.ceil(max(connections) / 20))
        plaintexts = harness.bench_keys(upstreams, "relay", count=count)
        # The other gateway's own account and keys, so that each row's usage records are counted apart.
        django_keys = harness.bench_keys(upstreams, "django", count=count)
        accounts = {"gateway": Account.objects.get(external_id="bench|relay"),
                    DJANGO: Account.objects.get(external_id="bench|django")}
        recorded_before = {name: UsageRecord.objects.filter(account=account).count()
                           for name, account in accounts.items()}
        flash_user = upstreams.flash_user("bench|relay")
        answered = dict.fromkeys(METERED, 0)
        with harness.gateway(upstreams) as gateway, harness.bare_relay(upstreams, flash_user) as bare, \
                harness.gateway(upstreams, READ_LANE="false") as through_django:
            targets = {
                "stand-in direct": (f"{upstreams.flash}/api/v1/credits/balance",
                                    {"X-Service-Key": harness.FLASH_SERVICE_KEY, "X-User-ID": flash_user}, None,
                                    upstreams.pid),
                "bare relay": (f"{bare.url}/proto/balance", {}, None, bare.pid),
                LIMITED: (f"{bare.url}/proto/limited_balance", {}, None, bare.pid),
                DJANGO: (f"{through_django.url}/api/v1/credits/balance", {},
                         [{"Authorization": f"Bearer {key}"} for key in django_keys], through_django.pid),
                "gateway": (f"{gateway.url}/api/v1/credits/balance", {},
                            [{"Authorization": f"Bearer {key}"} for key in plaintexts], gateway.pid),
            }
            for name, (target, headers, per_connection, _) in targets.items():  # warm pools, caches, imports
                warm = harness.load(target, 300, 16, headers, headers_for=per_connection)
                if name in answered:
                    answered[name] += warm.count
            redis_pid = harness.local_redis_pid()
            for n in connections:
                total = requests_per_level if n > 1 else max(500, requests_per_level // 4)
                results[n] = {name: harness.Result() for name in targets}
                # In `rounds` slices, the targets taking turns: on a machine whose other load
                # varies, every target meets the same share of it.
                for name, (target, headers, per_connection, pid) in [
                        item for _ in range(rounds) for item in targets.items()]:
                    # What each request costs the whole machine: the server, the stand-in
                    # it calls, Redis, and the load generator (this process).
                    processes = {"server": pid}
                    if pid != upstreams.pid:
                        processes["stand-in"] = upstreams.pid
                    if redis_pid:
                        processes["redis"] = redis_pid
                    part = harness.measured(
                        processes,
                        lambda t=target, h=headers, p=per_connection, total=total // rounds, n=n: harness.load(
                            t, total, n, h, time_cap=time_cap / rounds, headers_for=p), load=True)
                    results[n][name].add(part)
                    if name in answered:
                        answered[name] += part.count
        # Both gateways have stopped gracefully: their workers stored every queued record.
        recorded = {name: UsageRecord.objects.filter(account=account).count() - recorded_before[name]
                    for name, account in accounts.items()}
    return {"levels": results, "answered": answered, "recorded": recorded}


def report(results: dict) -> None:
    for n, rows in results["levels"].items():
        harness.print_table(f"GET /api/v1/credits/balance at {n} connection(s); gunicorn.conf.py (gevent, 2 workers),"
                            f" PostgreSQL + Redis", list(rows.items()), baseline="bare relay")
        gateway, bare, direct = rows["gateway"], rows["bare relay"], rows["stand-in direct"]
        machine = {name: sum(row.cpu.values()) for name, row in rows.items()}
        print(f"  CPU of the whole machine per request: bare relay {machine['bare relay']:.2f} ms, gateway "
              f"{machine['gateway']:.2f} ms (ratio {machine['bare relay'] / max(machine['gateway'], 1e-9):.2f})")
        print(f"  gateway p50 added over the stand-in: +{gateway.p50 - direct.p50:.2f} ms (target <= 3 ms at 1 "
              f"connection), over the bare relay: +{gateway.p50 - bare.p50:.2f} ms; gateway / bare relay req/s: "
              f"{gateway.rps / bare.rps:.2f} (target >= 0.6 at 16 connections)")
        limited = rows[LIMITED]
        print(f"  with the shared limits alone: {limited.rps / bare.rps:.2f} of the bare relay's req/s "
              f"(whole machine CPU {machine[LIMITED]:.2f} ms per request): the most any request path keeping "
              f"CONTRACT.md §5's limits reaches here; the gateway reaches {gateway.rps / limited.rps:.2f} of that")
        django = rows[DJANGO]
        print(f"  without the read lane (READ_LANE=false: every request through Django's middleware and DRF): "
              f"{django.rps / bare.rps:.2f} of the bare relay's req/s (whole machine CPU {machine[DJANGO]:.2f} ms "
              f"per request), p50 +{django.p50 - bare.p50:.2f} ms over the bare relay")
    for name in METERED:
        print(f"  usage records after the {name}'s graceful stop: {results['recorded'][name]} for "
              f"{results['answered'][name]} answered requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=4000, help="per target and level (a quarter at 1)")
    parser.add_argument("--time-cap", type=float, default=15.0, help="seconds per target and level")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each level in this many slices, the targets taking turns (a busy machine)")
    args = parser.parse_args()
    print(harness.machine())
    report(run(args.connections, args.requests, args.time_cap, max(1, args.rounds)))


if __name__ == "__main__":
    main()
