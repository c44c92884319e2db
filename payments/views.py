"""Billing endpoints (CONTRACT.md §6). Thin: the work is in checkout.py,
webhooks.py, apple.py and grants.py."""

from __future__ import annotations

import logging

import stripe
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import request_json
from core.catalog import APPLE_PRODUCTS, CURRENCY, PACKAGES, PLANS
from core.errors import APIError
from core.permissions import IsHuman

from . import apple, autoreload, checkout, webhooks
from .models import StripeEvent
from .serializers import (
    AutoReloadSerializer,
    AutoReloadUpdateSerializer,
    BillingPortalSerializer,
    CheckoutRequestSerializer,
    CheckoutSerializer,
    PlansSerializer,
    ReceiptRequestSerializer,
    ReceiptSerializer,
    WebhookAckSerializer,
)

log = logging.getLogger("payments.views")

# How old a signed webhook may be (CONTRACT.md §6): a replayed one is refused.
WEBHOOK_TOLERANCE_SECONDS = 300


class PlansView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses=PlansSerializer, summary="Plans, credit packages and Apple products",
        description="What can be bought: monthly `plans` (credits each month, the API tier they give, "
        "whether they include the HD preset), one-off credit `packages`, and the iOS app's "
        "`apple_products`. Prices are decimal strings in `currency`. Public: no credential needed.",
        examples=[OpenApiExample("Plans", response_only=True, value={
            "plans": [{"id": "historian", "name": "Historian", "credits_per_month": 200, "price": "14.99",
                       "currency": "usd", "hd": True, "tier": "free"}],
            "packages": [{"id": "100_credits", "credits": 100, "price": "9.99", "currency": "usd"}],
            "apple_products": [{"product_id": "com.timepointai.credits.100", "credits": 100}]})],
    )
    def get(self, request: Request) -> Response:
        return Response({
            "plans": [
                {"id": p.id, "name": p.name, "credits_per_month": p.credits_per_month, "price": p.price,
                 "currency": CURRENCY, "hd": p.hd, "tier": p.tier} for p in PLANS.values()
            ],
            "packages": [
                {"id": p.id, "credits": p.credits, "price": p.price, "currency": CURRENCY} for p in PACKAGES.values()
            ],
            "apple_products": [{"product_id": k, "credits": v} for k, v in APPLE_PRODUCTS.items()],
        })


class SignedInView(APIView):
    """Money and payment settings are for signed-in people only: an API key is refused
    with 403 (CONTRACT.md §5); a billing-portal URL in a leaked key's hands could
    cancel the plan or change the card. Every authenticated billing route is one. The
    refused request still counts toward the key's requests per minute."""

    permission_classes = [IsHuman]

    @staticmethod
    def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict:
        """The body as `serializer_class` validates it (400 otherwise); a body that is
        not a JSON object is validated as an empty one."""
        serializer = serializer_class(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @staticmethod
    def no_bad_json(request: Request) -> None:
        """For a view that needs no body: a JSON one that does not parse is still 400
        (CONTRACT.md §3), before anything is made at Stripe; a body of another type is
        ignored."""
        try:
            request.data  # noqa: B018 -- parsing is the check
        except UnsupportedMediaType:
            pass


class CheckoutView(SignedInView):
    @extend_schema(
        request=CheckoutRequestSerializer, responses=CheckoutSerializer,
        summary="Buy credits or subscribe to a plan",
        description="Starts a Stripe Checkout for one credit `package` (paid once) or one monthly `plan` "
        "(a subscription): send exactly one of them (ids from `GET /api/v1/billing/plans`). Open "
        "`checkout_url` in a browser to pay; once Stripe confirms the payment the credits are added to "
        "your balance, and a plan's again each month its invoice is paid. An unknown package or plan, "
        "or a second subscription, is refused with 400 (change plans in the billing portal). Sign in "
        "to call this: API keys are refused with 403.",
        examples=[
            OpenApiExample("100 credits", request_only=True, value={"package": "100_credits"}),
            OpenApiExample("The Historian plan", request_only=True, value={"plan": "historian"}),
            OpenApiExample("Checkout started", response_only=True, value={
                "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
                "session_id": "cs_test_a1b2c3"}),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.validated(CheckoutRequestSerializer, request)
        session = checkout.create_checkout(request.user, package=data.get("package"), plan=data.get("plan"))
        return Response({"checkout_url": session["url"], "session_id": session["id"]})


class BillingPortalView(SignedInView):
    @extend_schema(
        request=None, responses=BillingPortalSerializer, summary="Manage your plan and payment details",
        description="A link to Stripe's billing portal for your account, where you change your card, "
        "see invoices, or change or cancel your plan. Available after a first purchase (400 before). "
        "Sign in to call this: API keys are refused with 403.",
    )
    def post(self, request: Request) -> Response:
        self.no_bad_json(request)
        session = checkout.create_billing_portal(request.user)
        return Response({"url": session["url"]})


_AUTO_RELOAD_EXAMPLE = {"enabled": True, "threshold": 20, "package": "100_credits", "monthly_limit": 3,
                        "reloads_this_month": 1, "payment_method": {"brand": "visa", "last4": "4242"},
                        "last_error": None}


class AutoReloadView(SignedInView):
    @extend_schema(
        responses=AutoReloadSerializer, summary="Your auto-reload settings",
        description="Whether auto-reload is on, the balance `threshold` under which it buys the credit "
        "`package` with your saved card, at most `monthly_limit` times a calendar month (UTC), how many "
        "reloads this month has had, the saved card (`null` before one is saved) and the last failure. "
        "Sign in to call this: API keys are refused with 403.",
        examples=[OpenApiExample("On", response_only=True, value=_AUTO_RELOAD_EXAMPLE)],
    )
    def get(self, request: Request) -> Response:
        return Response(autoreload.describe(request.user))

    @extend_schema(
        request=AutoReloadUpdateSerializer, responses=AutoReloadSerializer, summary="Change your auto-reload",
        description="Send any of `enabled`, `threshold` (credits, 1 or more), `package` (a package id from "
        "`GET /api/v1/billing/plans`) and `monthly_limit` (1 to 100 reloads a month). When a balance "
        "billing reads (a balance request, a generation's balance check) is below the threshold, one "
        "off-session payment for the package is made with the saved card, and its credits are added "
        "once Stripe confirms it; a declined payment turns auto-reload off and is emailed to you. "
        "Turning it on without a saved card (`POST /api/v1/billing/payment-method`) is refused with "
        "400, as are values out of range. Sign in to call this: API keys are refused with 403.",
        examples=[OpenApiExample("Turn on", request_only=True, value={
            "enabled": True, "threshold": 20, "package": "100_credits", "monthly_limit": 3})],
    )
    def put(self, request: Request) -> Response:
        autoreload.update(request.user, self.validated(AutoReloadUpdateSerializer, request))
        return Response(autoreload.describe(request.user))


class PaymentMethodView(SignedInView):
    @extend_schema(
        request=None, responses=CheckoutSerializer, summary="Save a card for auto-reload",
        description="Starts a Stripe Checkout in setup mode: open `checkout_url` in a browser and save a "
        "card; nothing is charged. Once Stripe confirms it, the card is the one auto-reload pays with "
        "(`GET /api/v1/billing/auto-reload` shows its brand and last 4 digits). Sign in to call this: "
        "API keys are refused with 403.",
        examples=[OpenApiExample("Setup started", response_only=True, value={
            "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_s3tup", "session_id": "cs_test_s3tup"})],
    )
    def post(self, request: Request) -> Response:
        self.no_bad_json(request)
        session = checkout.create_card_setup(request.user)
        return Response({"checkout_url": session["url"], "session_id": session["id"]})


class StripeWebhookView(APIView):
    """Verify, store once, grant from the payload; mirroring through dj-stripe is
    separate (manage.py mirror_stripe_events) and never blocks a grant."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        request={"application/json": dict},
        responses={200: WebhookAckSerializer, 400: OpenApiResponse(description="invalid_signature")},
        summary="Stripe's events (for Stripe only)",
        description="Where Stripe delivers the events of the account's webhook endpoint, signed with "
        "`Stripe-Signature`. A bad or missing signature is refused with 400 and nothing is recorded. "
        "Paid checkouts and paid plan invoices grant their credits exactly once, however often an event "
        "is delivered; other event types are acknowledged and ignored.",
    )
    def post(self, request: Request) -> Response:
        payload = request.body
        header = request.headers.get("Stripe-Signature", "")
        if not settings.STRIPE_WEBHOOK_SECRET:
            log.error("STRIPE_WEBHOOK_SECRET is not configured: webhook refused")
            raise APIError(400, "invalid_signature", "Webhook signature cannot be verified.")
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), header, settings.STRIPE_WEBHOOK_SECRET,
                                                  tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, UnicodeDecodeError):
            raise APIError(400, "invalid_signature", "Invalid or missing Stripe-Signature.") from None
        try:
            event = request_json.loads(payload)
        except request_json.InvalidJSON as exc:
            raise APIError(400, "invalid_request", f"The event is not JSON: {exc}") from None
        # An id longer than the event table's column could not be stored (a 500 on PostgreSQL).
        if (not isinstance(event, dict) or not all(isinstance(event.get(k), str) for k in ("id", "type"))
                or len(event["id"]) > StripeEvent._meta.get_field("stripe_id").max_length):
            raise APIError(400, "invalid_request", "Not a Stripe event.")
        return Response(webhooks.receive(event))


class VerifyReceiptView(SignedInView):
    @extend_schema(
        request=ReceiptRequestSerializer, responses=ReceiptSerializer,
        summary="Redeem an Apple in-app purchase",
        description="For the iOS app, after a purchase: send the StoreKit 2 `signed_transaction` (or a "
        "legacy `receipt_data`). Each Apple transaction adds its credits once; sending it again "
        "answers `granted: false`. An invalid receipt is refused with 400; when Apple cannot be "
        "reached the answer is 503 and sending it again later is safe.",
        examples=[OpenApiExample("Granted", response_only=True, value={
            "granted": True, "credits": 100, "transaction_id": "2000000123456789"})],
    )
    def post(self, request: Request) -> Response:
        data = self.validated(ReceiptRequestSerializer, request)
        if data.get("signed_transaction"):
            purchases = [apple.verify_signed_transaction(data["signed_transaction"])]
        else:
            purchases = apple.verify_receipt(data["receipt_data"])  # newest first
        newly_granted = apple.grant(request.user, purchases)
        # The newest purchase is the one the app just made; `credits` counts everything
        # this submission granted (older purchases a failed submission left behind too).
        latest = purchases[0]
        return Response({"granted": newly_granted > 0, "credits": newly_granted or latest.credits,
                         "transaction_id": latest.transaction_id})
