"""Metering benchmark: the recording cost per request, the records/s sustained by
concurrent writers, and the admin list page at 1,000,000 records.

    python -m bench.metering [--records 1000000]

Runs in the bench database (bench/harness.py: `bench_tpb`, kept between runs; its usage
records are replaced on every run), so it never touches real data or the test database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from . import harness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000, help="requests timed for the recording cost")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--admin-only", action="store_true", help="reuse the records of the last run")
    args = parser.parse_args()
    run(args.records, args.requests, args.threads, args.admin_only)


def run(records: int, requests: int, threads: int, admin_only: bool = False) -> None:
    harness.setup_django()
    from django.db import connection

    print(f"\nMetering, in process; database: {connection.vendor} {connection.settings_dict['NAME']}")

    from accounts.models import Account
    from metering.models import RolledDay, UsageRecord, UsageRollup

    accounts = [
        Account.objects.get_or_create(external_id=f"bench|{i}", defaults={"flash_user_id": f"bench-{i}",
                                                                          "email": f"b{i}@example.com"})[0]
        for i in range(100)
    ]
    if admin_only:
        admin_pages(accounts[0])
        return
    for model in (UsageRecord, UsageRollup, RolledDay):
        model.objects.all()._raw_delete(connection.alias)
    recording_cost(requests, accounts[0])
    throughput(threads, requests, accounts)
    UsageRecord.objects.all()._raw_delete(connection.alias)
    generate(records)
    admin_pages(accounts[0])


def _middleware_pair():
    from django.http import HttpResponse

    from metering.middleware import UsageMiddleware

    def view(request):
        return HttpResponse(b"{}", content_type="application/json")

    return view, UsageMiddleware(view)


def _request(rf, account):
    from django.urls import resolve

    from core.context import context

    request = rf.get("/api/v1/usage")
    request.resolver_match = resolve("/api/v1/usage")
    request.request_id = "bench"
    context(request).account = account
    return request


def recording_cost(n: int, account) -> None:
    """What metering adds to a request: the usage middleware queueing its record (the
    usage writer stores it later, off the request)."""
    from django.test import RequestFactory

    from metering.writer import usage_writer

    rf = RequestFactory()
    view, middleware = _middleware_pair()
    samples_with, samples_without = [], []
    for _ in range(n):
        request = _request(rf, account)
        t0 = time.perf_counter()
        view(request)
        samples_without.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        middleware(request)
        samples_with.append(time.perf_counter() - t0)
    usage_writer.flush()
    cost = [w - wo for w, wo in zip(samples_with, samples_without, strict=True)]
    print(f"recording cost per request (queued for the usage writer): mean {statistics.mean(cost) * 1e3:.3f} ms, "
          f"p50 {statistics.median(cost) * 1e3:.3f} ms, p95 {statistics.quantiles(cost, n=20)[18] * 1e3:.3f} ms "
          f"(n={n})")


def throughput(threads: int, n: int, accounts) -> None:
    """Records queued by `threads` request threads and stored by the usage writer's
    batches: records/s from the first request to the last record stored."""
    from django.test import RequestFactory

    from metering.models import UsageRecord
    from metering.writer import usage_writer

    before = UsageRecord.objects.count()
    gate = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        rf = RequestFactory()
        _, middleware = _middleware_pair()
        gate.wait()
        for _ in range(n):
            middleware(_request(rf, accounts[i % len(accounts)]))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    gate.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    usage_writer.flush()
    elapsed = time.perf_counter() - t0
    written = UsageRecord.objects.count() - before
    print(f"sustained: {written / elapsed:,.0f} records/s with {threads} threads "
          f"({written} records in {elapsed:.2f} s; expected {threads * n}, lost {threads * n - written})")


def generate(n: int) -> None:
    from django.db import connection

    from metering.models import UsageRecord

    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH a AS (SELECT array_agg(id) AS ids FROM accounts_account)
                INSERT INTO metering_usagerecord (account_id, endpoint, method, status_code, credits_spent,
                    response_time_ms, preset, created_at, request_id, is_test)
                SELECT a.ids[1 + (i %% array_length(a.ids, 1))],
                       (ARRAY['/api/v1/generate','/api/v1/timepoints/<id>','/api/v1/credits/balance',
                              '/api/v1/browse/<path>','/api/v1/search'])[1 + (i %% 5)],
                       CASE WHEN i %% 5 = 0 THEN 'POST' ELSE 'GET' END,
                       (ARRAY[200,200,200,200,200,200,402,429,404,502])[1 + (i %% 10)],
                       CASE WHEN i %% 5 = 0 THEN 5 ELSE 0 END,
                       (i::bigint * 7919) %% 2000,
                       NULL,
                       now() - make_interval(secs => (i::float8 / %s) * 60 * 86400),
                       'gen-' || i,
                       false
                FROM a, generate_series(1, %s) AS i
                """,
                [n, n],
            )
            cursor.execute("ANALYZE metering_usagerecord")
    else:
        import datetime as dt

        from django.utils import timezone

        now = timezone.now()
        batch = []
        for i in range(n):
            batch.append(UsageRecord(endpoint="/api/v1/generate", method="GET", status_code=200,
                                     created_at=now - dt.timedelta(seconds=i * 5), request_id=f"gen-{i}"))
            if len(batch) == 10_000:
                UsageRecord.objects.bulk_create(batch)
                batch = []
        UsageRecord.objects.bulk_create(batch)
    print(f"generated {n:,} records over 60 days in {time.perf_counter() - t0:.1f} s")


def admin_pages(account) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from metering.models import RolledDay, UsageRollup

    for model in (UsageRollup, RolledDay):  # the dashboard first reads raw records only
        model.objects.all()._raw_delete(connection.alias)
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True,
                                                                                        "is_superuser": True})
    client = Client()
    client.force_login(user)
    today = timezone.now()
    pages = [
        ("list, unfiltered", "/admin/metering/usagerecord/"),
        ("list, one account", f"/admin/metering/usagerecord/?account={account.pk}"),
        ("list, 5xx", "/admin/metering/usagerecord/?status_class=5xx"),
        ("list, one month", f"/admin/metering/usagerecord/?created_at__year={today.year}"
                            f"&created_at__month={today.month}"),
        ("list, page 200", "/admin/metering/usagerecord/?p=200"),
        ("dashboard, 30 days (raw, nothing rolled up)", "/admin/metering/usagedashboard/"),
    ]
    for label, url in pages:
        client.get(url)  # warm caches the way a second visit would find them
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - t0
        slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"time": 0, "sql": ""})
        print(f"admin {label}: HTTP {response.status_code}, {len(queries)} queries, {elapsed * 1e3:.0f} ms "
              f"(slowest query {float(slowest['time']) * 1e3:.0f} ms: {slowest['sql'][:90]}…)")
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("rollup_usage", "--no-purge", stdout=open(os.devnull, "w"))  # noqa: SIM115
    print(f"rollup_usage over 60 days of records: {time.perf_counter() - t0:.1f} s")
    url = "/admin/metering/usagedashboard/"
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - t0
    print(f"admin dashboard, 30 days (rolled up): HTTP {response.status_code}, {len(queries)} queries, "
          f"{elapsed * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
