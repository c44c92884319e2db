"""The auto-reload page: save a card through Stripe Checkout in setup mode, choose the
threshold, package and monthly cap, and see the last reloads and why one failed.

The views only call payments' helpers (`autoreload`, `checkout.create_card_setup`):
Stripe is never called from here directly, and the rules (no auto-reload without a
card, a new crossing when it is turned on again) are the API's own.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from core.catalog import PACKAGES
from core.errors import APIError
from payments import autoreload
from payments.autoreload import MAX_MONTHLY_LIMIT, MAX_THRESHOLD
from payments.checkout import create_card_setup
from payments.models import Reload

from .views import account_required

RECENT_RELOADS = 10


class AutoReloadForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Reload automatically")
    threshold = forms.IntegerField(min_value=1, max_value=MAX_THRESHOLD, label="When my balance falls below",
                                   help_text="credits", widget=forms.NumberInput(attrs={"class": "short"}))
    package = forms.ChoiceField(label="Buy", choices=[])
    monthly_limit = forms.IntegerField(min_value=1, max_value=MAX_MONTHLY_LIMIT, label="At most",
                                       help_text="reloads a calendar month (UTC)",
                                       widget=forms.NumberInput(attrs={"class": "short"}))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["package"].choices = [(p.id, f"{p.credits:,} credits for ${p.price}") for p in PACKAGES.values()]


@require_GET
@never_cache
@account_required
def page(request: HttpRequest, account: Account) -> HttpResponse:
    state = autoreload.describe(account)
    form = AutoReloadForm(initial={name: state[name] for name in AutoReloadForm.base_fields})
    return render(request, "portal/auto_reload.html", {
        "section": "credits",
        "state": state,
        "form": form,
        "reloads": Reload.objects.filter(account=account).order_by("-created_at")[:RECENT_RELOADS],
        "card_step": request.GET.get("card"),
    })


@require_POST
@account_required
def save(request: HttpRequest, account: Account) -> HttpResponse:
    form = AutoReloadForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{form.fields[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()
                             if name in form.fields)
        messages.error(request, f"Nothing was saved. {problems}")
        return redirect("portal-auto-reload")
    try:
        autoreload.update(account, form.cleaned_data)
    except APIError as exc:
        messages.error(request, f"Nothing was saved. {exc.message}")
        return redirect("portal-auto-reload")
    messages.success(request, "Auto-reload is on." if form.cleaned_data["enabled"] else "Auto-reload settings saved; "
                     "it is off.")
    return redirect("portal-auto-reload")


@require_POST
@account_required
def card(request: HttpRequest, account: Account) -> HttpResponse:
    """Off to Stripe Checkout in setup mode; Stripe sends the person back here."""
    back = request.build_absolute_uri(reverse("portal-auto-reload"))
    try:
        session = create_card_setup(account, success_url=back + "?card=saved", cancel_url=back + "?card=cancelled")
    except APIError as exc:
        messages.error(request, f"Saving a card could not start: {exc.message}")
        return redirect("portal-auto-reload")
    return redirect(session["url"])
