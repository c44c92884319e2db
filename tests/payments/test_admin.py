
from payments import grants
from payments.models import CreditGrant, EventState, GrantSource, GrantState, StripeEvent
from upstreams import flash as flash_client

from .conftest import committed, completed_session

GRANTS = "/admin/payments/creditgrant/"


def test_it_records_a_manual_grant_with_operator_and_reason(operator, alice, flash):
    with committed():
        response = operator.post(GRANTS + "add/", {"account": str(alice.pk), "amount": "25",
                                                   "transaction_type": "admin_grant", "reason": "support ticket 42"})
    assert response.status_code == 302, response.content[:2000]
    grant = CreditGrant.objects.get()
    assert (grant.source, grant.amount, grant.reason) == (GrantSource.MANUAL, 25, "support ticket 42")
    assert grant.created_by.username == "ops" and grant.state == GrantState.APPLIED
    [sent] = flash.grants(alice.flash_user_id)
    assert sent["amount"] == 25 and "support ticket 42" in sent["description"]


def test_it_filters_by_state_and_retries_failed_grants(operator, alice, flash, settings):
    flash.fail(422, body={"detail": "amount is over this user's limit"}, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:admin", source=GrantSource.MANUAL, account=alice, amount=4,
                                 transaction_type="admin_grant")
    grant.refresh_from_db()
    assert grant.state == GrantState.FAILED
    listing = operator.get(GRANTS + "?state__exact=failed")
    assert listing.status_code == 200 and str(grant.id)[:8] in listing.content.decode()
    assert "amount is over this user&#x27;s limit" in listing.content.decode()  # why, in the list
    assert str(grant.id)[:8] not in operator.get(GRANTS + "?state__exact=applied").content.decode()
    with committed():
        operator.post(GRANTS, {"action": "retry_grants", "_selected_action": [str(grant.id)]})
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [4]


def test_it_keeps_why_a_retried_grant_had_failed_in_its_history(operator, alice, flash):
    flash.fail(422, body={"detail": "amount is over this user's limit"}, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:history", source=GrantSource.MANUAL, account=alice, amount=4,
                                 transaction_type="admin_grant")
    with committed():
        operator.post(GRANTS, {"action": "retry_grants", "_selected_action": [str(grant.id)]})

    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED and grant.last_error == ""
    history = operator.get(f"{GRANTS}{grant.pk}/history/").content.decode()
    assert "Retried delivery to Flash after 1 attempt(s) (failed)" in history
    assert "amount is over this user&#x27;s limit" in history and ">ops<" in history


def test_it_reconciles_a_grant_found_in_flash(operator, alice, flash):
    with committed():
        grant, _ = grants.record("test:rec", deliver_after_commit=False, source=GrantSource.MANUAL,
                                 account=alice, amount=6, transaction_type="admin_grant", state=GrantState.FAILED)
    # What a lost attempt had sent and Flash had applied:
    flash_client.grant(alice.flash_user_id, 6, "admin_grant", f"Manual {grant.marker}")
    with committed():
        operator.post(GRANTS, {"action": "reconcile_grants", "_selected_action": [str(grant.id)]})
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED


def test_it_shows_stripe_events_with_their_result_and_secrets_nowhere(operator, alice, stripe_api, post_event):
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice)))
    event = StripeEvent.objects.get()
    assert event.state == EventState.SUCCEEDED
    page = operator.get("/admin/payments/stripeevent/").content.decode()
    assert event.stripe_id in page and "grant" in page
    grant_page = operator.get(f"{GRANTS}{CreditGrant.objects.get().pk}/change/").content.decode()
    for secret in (stripe_api.secret_key, stripe_api.webhook_secret, "flash-admin-key"):
        assert secret not in page and secret not in grant_page


def test_it_shows_the_stripe_objects_dj_stripe_mirrors(operator):
    for model in ("product", "price", "customer", "subscription", "event"):
        assert operator.get(f"/admin/djstripe/{model}/").status_code == 200, model


def test_it_reprocesses_a_failed_event_once_the_account_exists(operator, db, flash, stripe_api, post_event):
    from accounts.models import Account

    late = Account(external_id="auth0|late", email="late@example.com", flash_user_id=flash.add_user("auth0|late"))
    post_event(stripe_api.event("checkout.session.completed", completed_session(late, customer="cus_late")))
    event = StripeEvent.objects.get()
    assert event.state == EventState.FAILED and not CreditGrant.objects.exists()
    late.save()  # e.g. restored by an operator
    with committed():
        operator.post("/admin/payments/stripeevent/", {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.state == EventState.SUCCEEDED
    assert [g["amount"] for g in flash.grants(late.flash_user_id)] == [100]


def test_it_processes_a_failed_event_again_from_its_own_page(operator, db, flash, stripe_api, post_event):
    from accounts.models import Account

    late = Account(external_id="auth0|late", email="late@example.com", flash_user_id=flash.add_user("auth0|late"))
    post_event(stripe_api.event("checkout.session.completed", completed_session(late, customer="cus_late")))
    event = StripeEvent.objects.get()
    page = operator.get(f"/admin/payments/stripeevent/{event.pk}/change/").content.decode()
    assert "Process again" in page and "no account for this event" in page
    late.save()

    with committed():
        response = operator.post(f"/admin/payments/stripeevent/{event.pk}/process-again/")

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.state == EventState.SUCCEEDED
    assert [g["amount"] for g in flash.grants(late.flash_user_id)] == [100]
    assert "Process again" not in operator.get(f"/admin/payments/stripeevent/{event.pk}/change/").content.decode()
    # Only a failed event has the button, and only a POST presses it.
    assert operator.post(f"/admin/payments/stripeevent/{event.pk}/process-again/").status_code == 404
    assert operator.get(f"/admin/payments/stripeevent/{event.pk}/process-again/").status_code == 405
