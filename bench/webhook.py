"""Stripe webhook answer time: signed `checkout.session.completed` events (each a new
session of 100 credits for the bench account) posted to
`POST /api/v1/billing/webhooks/stripe` under gunicorn, at 1 and 20 connections, and
redeliveries of one event already processed (answered `duplicate`). The answer
includes the signature check, the event and grant rows in one transaction and, after
commit, the one inline delivery attempt to the Flash stand-in.

    python -m bench.webhook [--events 300]
"""

from __future__ import annotations

import argparse
import itertools
import secrets

from . import harness


def run(events: int) -> dict[str, harness.Result] | None:
    try:
        from standins.stripe import Stripe
    except ImportError:
        print("\nStripe webhook: skipped (payments, with standins/stripe.py, is not on this branch yet)")
        return None
    harness.setup_django()
    stripe = Stripe()  # not started: only its signing helper and settings are needed
    with harness.standins() as upstreams:
        harness.bench_keys(upstreams, "webhook")
        from accounts.models import Account

        account = Account.objects.get(external_id="bench|webhook")
        run_id = secrets.token_hex(4)
        numbers = itertools.count()

        def completed() -> tuple[bytes, dict[str, str]]:
            session_id = f"cs_bench_{run_id}_{next(numbers)}"
            session = {
                "id": session_id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
                "status": "complete", "client_reference_id": str(account.pk), "customer": "cus_bench_webhook",
                "metadata": {"account_id": str(account.pk), "package": "100_credits", "credits": "100"},
                "amount_total": 999, "currency": "usd", "payment_intent": "pi_" + session_id,
            }
            body, headers = stripe.signed(Stripe.event("checkout.session.completed", session))
            return body.encode(), {**headers, "Content-Type": "application/json"}

        duplicate = completed()

        def redelivered() -> tuple[bytes, dict[str, str]]:
            return duplicate

        env = {k: v for k, v in stripe.environment().items() if k != "STRIPE_API_BASE"}
        with harness.gateway(upstreams, **env) as gateway:
            url = gateway.url
            target = f"{url}/api/v1/billing/webhooks/stripe"
            harness.load(target, 20, 4, method="POST", payload=completed)  # warm
            results = {
                "new event, 1 connection": harness.load(target, events, 1, method="POST", payload=completed),
                "new event, 20 connections": harness.load(target, events, 20, method="POST", payload=completed),
                "duplicate, 1 connection": harness.load(target, events, 1, method="POST", payload=redelivered),
            }
    return results


def report(results: dict[str, harness.Result] | None) -> None:
    if results is None:
        return
    harness.print_table("Stripe webhook answer time (signed checkout.session.completed)", list(results.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    report(run(args.events))


if __name__ == "__main__":
    main()
