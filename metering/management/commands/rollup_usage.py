from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.calendar import month_start
from metering import rollup, usage


class Command(BaseCommand):
    help = (
        "Roll usage records up per day and month (idempotent; any day may be re-run), "
        "then purge raw records past USAGE_RETENTION_DAYS whose day is rolled up."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", action="append", default=[], help="YYYY-MM-DD; repeatable")
        parser.add_argument("--from", dest="date_from", help="YYYY-MM-DD, with --to")
        parser.add_argument("--to", dest="date_to", help="YYYY-MM-DD, with --from")
        parser.add_argument("--no-purge", action="store_true")
        parser.add_argument("--every", type=int, default=0, help="keep running, once every N seconds")

    def handle(self, *args, **options):
        days = self._days(options)
        while True:
            self._run(days, purge=not options["no_purge"])
            if not options["every"]:
                return
            time.sleep(options["every"])
            days = None  # later passes find their own work

    def _days(self, options) -> list[dt.date] | None:
        try:
            days = [dt.date.fromisoformat(value) for value in options["date"]]
            if options["date_from"] or options["date_to"]:
                start = dt.date.fromisoformat(options["date_from"])
                end = dt.date.fromisoformat(options["date_to"])
                if start > end:
                    raise CommandError("--from is after --to")
                days += [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        except (TypeError, ValueError):
            raise CommandError("dates are YYYY-MM-DD, and --from goes with --to")
        return days or None

    def _run(self, days: list[dt.date] | None, purge: bool) -> None:
        today = usage.today()
        months = set()
        for day in days if days is not None else rollup.days_to_roll_up(today):
            rows = rollup.roll_up_day(day, with_month=False)
            if rows is None:
                self.stdout.write(f"{day}: raw records already purged, roll-up kept")
            else:
                months.add(month_start(day))
                self.stdout.write(f"{day}: {rows} roll-up rows")
        for month in sorted(months):  # once per month, not once per day of it
            rollup.roll_up_month(month)
        if purge:
            deleted = rollup.purge(today, settings.USAGE_RETENTION_DAYS)
            self.stdout.write(f"purged {deleted} raw records older than {settings.USAGE_RETENTION_DAYS} days")
