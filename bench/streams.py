"""A thousand concurrent streams on one instance: `POST /api/v1/generate/stream`
through the gateway under gunicorn.conf.py (gevent, 2 workers) on PostgreSQL + Redis.

N streams are opened at once over 60 API keys of 3 enterprise accounts (20 concurrent
each: the tier's limit); the Flash stand-in sends E progress events I seconds apart,
then `done`. The same streams through the bare relay (bench/serving_proto.py: one view,
no middleware, no limits, same gunicorn settings) run first: the floor of this machine
at that moment. Meanwhile another account reads its balance every 100 ms. Prints each
stream's first-event delay (request sent → first event in), how many completed, the
statuses, the reads' latency, the instance's peak RSS and the most PostgreSQL
connections it held at once; then, after a graceful stop, the streams' usage records
and their credits.

`--cold-keys`: the streams' keys are not used before the burst (only the reader's key
warms the workers), so the burst is each key's first use and every key's record is read
from PostgreSQL then: a batch of new keys starting at once.

    python -m bench.streams [--streams 1000] [--events 40] [--interval 1] [--quick] [--cold-keys]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta

from . import harness

ACCOUNTS, KEYS_PER_ACCOUNT = 3, 20
BODY = json.dumps({"query": "the first flight at Kitty Hawk", "preset": "balanced"}).encode()


def run(streams: int, events: int, interval: float, cold_keys: bool = False) -> dict:
    harness.setup_django()
    import psycopg
    from django.db import connection
    from django.utils import timezone

    from metering.models import UsageRecord

    database = connection.settings_dict["NAME"]

    def pg_connections() -> int:
        with psycopg.connect(harness.database_url(), autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                [database]).fetchone()[0]

    with harness.standins(stream_events=events, stream_interval=interval) as upstreams:
        keys = []
        for n in range(ACCOUNTS):
            keys += harness.bench_keys(upstreams, f"streams-{n}", count=KEYS_PER_ACCOUNT, balance=10 * streams + 100)
        reader = harness.bench_keys(upstreams, "streams-reader")[0]
        started_at = timezone.now() - timedelta(seconds=1)
        connection.close()  # only the gateway's connections are counted
        # The floor on this machine at this moment: the same streams through the bare
        # relay (one view, no middleware, no limits) under the same gunicorn settings.
        with harness.bare_relay(upstreams, upstreams.flash_user("bench|streams-bare", balance=10 * streams)) as bare:
            floor = harness.streams(f"{bare.url}/proto/stream", streams, BODY, lambda i: {},
                                    read_url=f"{bare.url}/proto/balance", pid=bare.pid,
                                    time_cap=events * interval + 120)
        with harness.gateway(upstreams) as gateway:
            # Warm each worker's pools and caches (and every key's cached record, unless
            # the burst is to be the keys' first use).
            harness.warm_keys(f"{gateway.url}/api/v1/credits/balance", [reader] * 16 if cold_keys else keys)
            balance_reads = harness.flash_calls(upstreams, "/api/v1/credits/balance")
            result = harness.streams(
                f"{gateway.url}/api/v1/generate/stream", streams, BODY,
                lambda i: {"Authorization": f"Bearer {keys[i % len(keys)]}"},
                read_url=f"{gateway.url}/api/v1/credits/balance", read_headers={"Authorization": f"Bearer {reader}"},
                pid=gateway.pid, count_db_connections=pg_connections, time_cap=events * interval + 120)
            balance_reads = harness.flash_calls(upstreams, "/api/v1/credits/balance") - balance_reads
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
    records = UsageRecord.objects.filter(endpoint="/api/v1/generate/stream", created_at__gte=started_at,
                                         api_key__account__external_id__startswith="bench|streams-")
    return {"result": result, "floor": floor, "streams": streams, "events": events, "interval": interval,
            "records": records.count(), "with_credits": records.filter(credits_spent__gt=0).count(),
            "stopped_in": stopped_in, "balance_reads": balance_reads, "cold_keys": cold_keys}


def report(run_result: dict) -> None:
    result: harness.StreamsResult = run_result["result"]
    cold = "; the burst is the keys' first use" if run_result["cold_keys"] else ""
    harness.print_streams(f"{run_result['streams']} concurrent streams through the gateway ({run_result['events']} "
                          f"events, {run_result['interval']:g} s apart); 2 gevent workers; a balance read every "
                          f"100 ms meanwhile{cold}", [("bare relay", run_result["floor"]), ("gateway", result)])
    late = sum(1 for delay in result.first_event if delay > 2.0)
    errors = sum(count for status, count in result.statuses.items() if not (isinstance(status, int) and status < 500))
    print(f"  first event within 2 s: {len(result.first_event) - late} of {run_result['streams']}; completed "
          f"{result.completed}; 5xx or broken: {errors}; reads p50 {result.reads.p50:.1f} ms (target <= 50); "
          f"peak RSS {result.peak_rss_mib:.0f} MiB (target <= 1024); PostgreSQL connections at most "
          f"{result.peak_db_connections}; Flash balance calls {run_result['balance_reads']} (pre-checks and "
          f"the reads)")
    print(f"  after the graceful stop ({run_result['stopped_in']:.1f} s): {run_result['records']} stream usage "
          f"records, {run_result['with_credits']} with credits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="10 events instead of 40")
    parser.add_argument("--cold-keys", action="store_true", help="the burst is the keys' first use")
    args = parser.parse_args()
    print(harness.machine())
    report(run(args.streams, 10 if args.quick else args.events, args.interval, args.cold_keys))


if __name__ == "__main__":
    main()
