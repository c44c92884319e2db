"""Hand stored Stripe events to dj-stripe, which mirrors their objects by calling
the Stripe API. Separate from granting: a failure here is logged and retried on the
next run, and never touches a grant."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand
from django.utils import timezone

from payments.models import StripeEvent

log = logging.getLogger("payments.mirror")


class Command(BaseCommand):
    help = "Mirror stored Stripe events into dj-stripe's models (needs the Stripe API)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=100)

    def handle(self, *args, limit: int = 100, **options) -> None:
        from djstripe.models import Event

        from upstreams import stripe as stripe_api

        stripe_api.configure()

        mirrored = failed = 0
        for row in StripeEvent.objects.filter(mirrored_at__isnull=True).order_by("received_at")[:limit]:
            try:
                Event.process(row.payload)
            except Exception as exc:  # anything dj-stripe or the Stripe API raises
                failed += 1
                StripeEvent.objects.filter(pk=row.pk).update(mirror_error=f"{exc.__class__.__name__}: {exc}"[:500])
                log.warning("mirroring %s failed: %s", row.stripe_id, exc.__class__.__name__)
                continue
            mirrored += 1
            StripeEvent.objects.filter(pk=row.pk).update(mirrored_at=timezone.now(), mirror_error="")
        self.stdout.write(f"{mirrored} mirrored, {failed} failed")
