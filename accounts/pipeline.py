"""social-auth pipeline steps linking a portal sign-in to the billing Account of the
same Auth0 `sub` that the API uses."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpResponse
from django.template.response import TemplateResponse

from core.errors import APIError

from . import identity
from .models import Account

log = logging.getLogger("accounts.pipeline")


def resolve_account(backend: Any, uid: str, details: dict[str, Any], user: Any = None,
                    *args: Any, **kwargs: Any) -> dict[str, Any] | HttpResponse:
    """The Account for this sub, made (with Flash's resolve) on first sight. Runs
    before any Django user is created, so Flash being down leaves nothing behind."""
    # The Django user social-auth makes next takes its email from `details`: one that
    # no column can hold is dropped there too, or the sign-in would fail (a 500).
    details = {**details, "email": identity.storable_email(details.get("email") or "")}
    claims = {"sub": uid, "email": details["email"], "name": details.get("fullname") or ""}
    try:
        account = identity.account_for_claims(claims)
    except APIError as exc:
        log.warning("portal sign-in could not set up the account: %s", exc.code)
        return TemplateResponse(
            backend.strategy.request, "portal/signin_failed.html", {"reason": exc.message}, status=exc.status_code
        ).render()
    result: dict[str, Any] = {"billing_account": account, "details": details}
    if user is None and account.user is not None:
        result["user"] = account.user  # the Django user this sub signed in as before
    return result


def link_account(billing_account: Account, user: Any = None, *args: Any, **kwargs: Any) -> None:
    if user is not None and billing_account.user_id != user.pk:
        Account.objects.filter(pk=billing_account.pk).update(user=user)
        billing_account.user = user
