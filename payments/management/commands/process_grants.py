"""Deliver pending and stuck grants to Flash, with backoff, and mark (and alert about)
grants undelivered for an hour as stuck; make the auto-reload payments whose first
attempt never ran or never heard back; safe to run as several processes."""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from payments import autoreload
from payments.grants import mark_stuck, process_due

log = logging.getLogger("payments.worker")


class Command(BaseCommand):
    help = "Deliver pending credit grants to Flash (long-running; --once for cron)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
        parser.add_argument("--batch", type=int, default=50)

    def handle(self, *args, once: bool = False, batch: int = 50, **options) -> None:
        stop = threading.Event()
        if not once:
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        total = 0
        while True:
            try:
                mark_stuck()
                done = process_due(batch)
                done += autoreload.process_due(batch)
            except Exception:  # a dead database must not end the worker; try again later
                log.exception("grant worker cycle failed")
                done = 0
            total += done
            if once:
                if done < batch:
                    break
                continue
            if done < batch and stop.wait(settings.PAYMENTS_WORKER_INTERVAL):
                break
        self.stdout.write(f"{total} grant attempt(s) made")
