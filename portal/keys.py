"""Portal pages for API keys: list and create, the one-time reveal, revoke.

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
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Account
from apikeys.keys import create_key, revoke_key
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


def _keys_page(request: HttpRequest, account: Account, form: NewKeyForm, status: int = 200) -> HttpResponse:
    keys = account.api_keys.order_by("-is_active", "-created_at")
    return render(request, "portal/keys.html", {"section": "keys", "keys": keys, "form": form}, status=status)


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
    if request.session.session_key is None:
        request.session.save()
    cache.set(_reveal_slot(request, key), plaintext, REVEAL_SECONDS)
    return redirect("portal-key-created", key_id=key.pk)


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
    return render(request, "portal/key_created.html", {"section": "keys", "key": key, "plaintext": plaintext})


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
