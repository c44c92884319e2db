"""Portal pages for API keys: list and create, the one-time reveal, revoke, a key's
budget and expiry, rolling.

The plaintext of a new key crosses one redirect (so a reload cannot create a second
key): it waits in the shared cache for a minute under the session's name, and the
reveal page takes it out. It is never written to the database, not even in the
session row.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Account
from apikeys import budgets
from apikeys.keys import create_key, expiry_problem, revoke_key, roll_key, update_key
from apikeys.models import APIKey, Environment
from core.errors import APIError

from .views import account_required

REVEAL_SECONDS = 60


class NewKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, strip=True, help_text="Something to recognise it by, e.g. “ci” or “mobile app”."
    )
    environment = forms.ChoiceField(
        choices=Environment.choices,
        initial=Environment.LIVE,
        widget=forms.RadioSelect,
        help_text="Test keys never spend real credits.",
    )


def _reveal_slot(request: HttpRequest, key: APIKey) -> str:
    return f"portal:reveal:{request.session.session_key}:{key.pk}"


class KeySettingsForm(forms.Form):
    """A key's budget and expiry (CONTRACT.md §9), as the API's PATCH checks them."""

    monthly_credit_limit = forms.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, label="Monthly credit budget",
        help_text="Credits this key may spend per calendar month (UTC). Empty: no budget. Generations past it "
                  "are refused (402 budget_exceeded) before anything is spent.")
    expires_at = forms.DateTimeField(
        required=False, label="Expires at (UTC)", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="The key is refused from then on. Empty: it never expires. At most 366 days ahead.")

    def clean_expires_at(self) -> object:
        value = self.cleaned_data["expires_at"]
        problem = None if value is None else expiry_problem(value)
        if problem:
            raise forms.ValidationError(f"The expiry {problem}.")
        return value


GRACE_CHOICES = [(0, "None: refuse the old key now"), (3600, "1 hour"), (86400, "1 day"), (604800, "7 days")]


class RollForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        choices=GRACE_CHOICES, coerce=int, initial=86400, widget=forms.RadioSelect, label="Grace period",
        help_text="How long the old key keeps working, so your programs can switch without an outage.")


def _keys_page(request: HttpRequest, account: Account, form: NewKeyForm, status: int = 200) -> HttpResponse:
    keys = budgets.with_spending(list(account.api_keys.select_related("replaced_by").order_by(
        "-is_active", "-created_at")))
    return render(request, "portal/keys.html", {"section": "keys", "keys": keys, "form": form, "now": timezone.now()},
                  status=status)


def _reveal(request: HttpRequest, key: APIKey, plaintext: str) -> HttpResponse:
    """Hand the plaintext to the reveal page across one redirect."""
    if request.session.session_key is None:
        request.session.save()
    cache.set(_reveal_slot(request, key), plaintext, REVEAL_SECONDS)
    return redirect("portal-key-created", key_id=key.pk)


@require_GET
@account_required
def keys(request: HttpRequest, account: Account) -> HttpResponse:
    return _keys_page(request, account, NewKeyForm())


@require_POST
@account_required
def create(request: HttpRequest, account: Account) -> HttpResponse:
    form = NewKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, account, form, status=400)
    try:
        key, plaintext = create_key(account, form.cleaned_data["name"], form.cleaned_data["environment"])
    except APIError as exc:
        form.add_error(None, exc.message)
        return _keys_page(request, account, form, status=exc.status_code)
    return _reveal(request, key, plaintext)


@require_GET
@never_cache
@account_required
def created(request: HttpRequest, account: Account, key_id: str) -> HttpResponse:
    key = get_object_or_404(account.api_keys, pk=key_id)
    slot = _reveal_slot(request, key)
    plaintext = cache.get(slot)
    # Only the request that removes it shows it: two tabs cannot both get the key.
    if plaintext is not None and not cache.delete(slot):
        plaintext = None
    replaced = key.replaces.filter(is_active=True).first()
    return render(request, "portal/key_created.html", {"section": "keys", "key": key, "plaintext": plaintext,
                                                       "replaced": replaced})


@require_http_methods(["GET", "POST"])
@account_required
def revoke(request: HttpRequest, account: Account, key_id: str) -> HttpResponse:
    key = get_object_or_404(account.api_keys, pk=key_id)
    if request.method == "POST":
        if key.is_active:
            revoke_key(key)
            messages.success(request, f"Key “{key.name}” ({key.prefix}…) is revoked; requests with it are refused.")
        return redirect("portal-keys")
    return render(request, "portal/key_revoke.html", {"section": "keys", "key": key})


@require_http_methods(["GET", "POST"])
@account_required
def key_settings(request: HttpRequest, account: Account, key_id: str) -> HttpResponse:
    """A key's budget and expiry, and its spending this month against the budget."""
    key = get_object_or_404(account.api_keys, pk=key_id, is_active=True)
    if request.method == "POST":
        form = KeySettingsForm(request.POST)
        if form.is_valid():
            update_key(key, form.cleaned_data)
            messages.success(request, f"Key “{key.name}” ({key.prefix}…) is updated; it applies to its next request.")
            return redirect("portal-keys")
        status = 400
    else:
        form = KeySettingsForm(initial={"monthly_credit_limit": key.monthly_credit_limit,
                                        "expires_at": key.expires_at})
        status = 200
    budgets.with_spending([key])
    return render(request, "portal/key_settings.html", {"section": "keys", "key": key, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@account_required
def roll(request: HttpRequest, account: Account, key_id: str) -> HttpResponse:
    """Replace a key with a new one (revealed once), the old one working for a grace period."""
    key = get_object_or_404(account.api_keys, pk=key_id)
    form = RollForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new, plaintext = roll_key(key, form.cleaned_data["grace_seconds"])
        except APIError as exc:
            messages.error(request, exc.message)
            return redirect("portal-keys")
        return _reveal(request, new, plaintext)
    rollable = key.is_active and key.replaced_by_id is None
    return render(request, "portal/key_roll.html", {"section": "keys", "key": key, "form": form,
                                                    "rollable": rollable}, status=400 if form.errors else 200)
