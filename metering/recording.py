"""The seam other apps use to tell metering what a request cost, and the one
function that turns a served request into a usage record."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest
from django.utils import timezone

log = logging.getLogger("metering")

# Paths under /api/v1/ that are not metered: the docs and the webhooks (health lives
# outside /api/v1/ altogether).
API_PREFIX = "/api/v1/"
UNMETERED_PREFIXES = ("/api/v1/schema", "/api/v1/docs", "/api/v1/billing/webhooks/")
UNMATCHED = "(unmatched)"

_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


class _FailureCounter:
    """Recording failures since the process started (logged too, each one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def increment(self) -> None:
        with self._lock:
            self.value += 1


failures = _FailureCounter()


def annotate(request: HttpRequest, **fields: Any) -> None:
    """Attach metering facts (preset, credits_spent, …) to the request being served.

    Accepts a DRF Request or a Django HttpRequest; the facts land on the latter,
    where the metering middleware reads them when the response goes out.
    """
    django_request = getattr(request, "_request", request)
    facts = getattr(django_request, "metering", None)
    if facts is None:
        facts = {}
        django_request.metering = facts
    facts.update(fields)


def identified(request: HttpRequest, result: tuple[Any, Any]) -> tuple[Any, Any]:
    """Called by the DRF authentication on success: remember who the caller is, since
    DRF resolves it inside the view where the middleware cannot see it."""
    account, credential = result
    annotate(request, account=account, api_key=getattr(credential, "api_key", None))
    return result


def is_metered(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(UNMETERED_PREFIXES)


def endpoint_of(request: HttpRequest) -> str:
    """The route pattern (`/api/v1/keys/<key_id>/usage`), never the raw path: raw
    paths carry ids and would make per-endpoint figures meaningless."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route:
        return UNMATCHED
    route = route.lstrip("^").replace("$", "").replace("\\Z", "")
    return "/" + _CONVERTER.sub(r"<\1>", route)


def record(request: HttpRequest, status_code: int, started_at: datetime, elapsed_s: float) -> None:
    """Write the usage record of one request: one INSERT. Never raises: a failure is
    logged and counted, the request it describes has already been answered."""
    if status_code == 401:  # unauthenticated callers are not metered (CONTRACT §7)
        return
    facts: dict[str, Any] = getattr(request, "metering", None) or {}
    alert_cleared = False
    try:
        from .models import UsageRecord

        api_key = facts.get("api_key")
        usage = UsageRecord(
            account=facts.get("account"),
            api_key=api_key,
            endpoint=endpoint_of(request)[:200],
            method=request.method or "",
            status_code=status_code,
            credits_spent=facts.get("credits_spent") or 0,
            response_time_ms=max(0, round(elapsed_s * 1000)),
            preset=facts.get("preset"),
            created_at=started_at,
            request_id=(getattr(request, "request_id", "") or "")[:128],
            is_test=getattr(api_key, "environment", "live") == "test",
        )
        # The connection itself, not django.db.connection: every attribute read through
        # that proxy (the SQL compiler makes dozens) is a thread-local lookup.
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.in_atomic_block:
            # Inside a transaction (tests, ATOMIC_REQUESTS) a failed INSERT must not
            # poison the caller's transaction, nor may we change how it commits.
            with transaction.atomic():
                usage.save(force_insert=True)
        elif connection.vendor == "postgresql" and not settings.USAGE_SYNCHRONOUS_COMMIT:
            # Our own one-statement transaction commits without waiting for the WAL
            # flush: the record is durable a fraction of a second later, and only a
            # crash of PostgreSQL itself in that window could lose it (docs/metering.md).
            alert_cleared = _insert_without_waiting(connection, usage, _clears_alert(facts, usage))
        else:
            usage.save(force_insert=True)
    except Exception:
        failures.increment()
        log.exception("could not record usage of %s %s", request.method, endpoint_of(request))
        return
    balance = facts.get("balance")
    if balance is not None and usage.account_id is not None and not alert_cleared:
        from .alerts import balance_seen

        balance_seen(usage.account, balance)


def _clears_alert(facts: dict[str, Any], usage: Any) -> bool:
    """Whether the balance this request saw only clears the account's low-credit alert
    (what alerts.balance_seen does on every balance read at or above the threshold)."""
    if usage.account_id is None:
        return False
    from .alerts import at_or_above_threshold

    return at_or_above_threshold(facts.get("balance"))


def _insert_without_waiting(connection: Any, usage: Any, clear_alert: bool = False) -> bool:
    """BEGIN, SET LOCAL synchronous_commit, the INSERT and COMMIT in one string: one
    round trip to PostgreSQL per request instead of four. Django's psycopg cursors bind
    parameters client-side, which is what allows several statements in one execute;
    with server-side binding configured, the same four statements go one by one.

    With `clear_alert` the account's low-credit alert row is deleted in the same
    string (the DELETE alerts.balance_seen would send next, one round trip fewer on
    every balance read); returns whether it was."""
    if connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            usage.save(force_insert=True)
        return False
    from django.db.models.sql import InsertQuery

    opts = usage._meta
    query = InsertQuery(type(usage))
    query.insert_values([f for f in opts.local_concrete_fields if f is not opts.auto_field], [usage])
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    if clear_alert:
        delete_sql, account = _alert_delete(connection, usage.account_id)
        sql = f"{sql}; {delete_sql}"
        params = (*params, account.get_db_prep_value(usage.account_id, connection))
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"BEGIN; SET LOCAL synchronous_commit TO OFF; {sql}; COMMIT", params)
        except Exception:
            # A failed statement leaves the transaction block open and aborted.
            cursor.execute("ROLLBACK")
            raise
    return clear_alert


_alert_deletes: dict[str, tuple[str, Any]] = {}


def _alert_delete(connection: Any, account_id: Any) -> tuple[str, Any]:
    """The statement QuerySet._raw_delete() sends for one account's alert rows, compiled
    by Django once per database alias, and the field that prepares its one parameter."""
    compiled = _alert_deletes.get(connection.alias)
    if compiled is None:
        from django.db.models.sql import DeleteQuery

        from .models import LowCreditAlert

        account = LowCreditAlert._meta.get_field("account")
        delete = LowCreditAlert.objects.filter(account_id=account_id).query.clone()
        delete.__class__ = DeleteQuery
        sql, _ = delete.get_compiler(connection=connection).as_sql()
        compiled = _alert_deletes[connection.alias] = (sql, account)
    return compiled


class Stopwatch:
    """Start time for created_at, monotonic clock for the duration."""

    def __init__(self) -> None:
        self.started_at = timezone.now()
        self._t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0
