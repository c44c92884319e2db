"""The portal's API guide as data: one curl example per endpoint of CONTRACT.md §4–6.

Kept apart from the views so the page stays a loop and the examples stay easy to
check against the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY = '-H "Authorization: Bearer $TIMEPOINT_KEY"'
TOKEN = '-H "Authorization: Bearer $TOKEN"'
JSON = '-H "Content-Type: application/json"'


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    about: str
    curl: str


@dataclass(frozen=True)
class Group:
    anchor: str
    title: str
    endpoints: list[Endpoint]
    intro: str = ""


def _curl(method: str, url: str, *headers: str, body: str = "") -> str:
    parts = ["curl" + ("" if method == "GET" else f" -X {method}") + f' "$API{url}"', *headers]
    if body:
        parts += [JSON, f"-d '{body}'"]
    return " \\\n  ".join(parts)


GROUPS: list[Group] = [
    Group("generation", "Generation", [
        Endpoint("POST", "/api/v1/generate",
                 "Generate a timepoint and wait for it. Spends credits (see the cost table); "
                 "the hd preset needs a plan or tier with HD and answers 403 otherwise, before anything is spent.",
                 _curl("POST", "/api/v1/generate", KEY,
                       body='{"query": "Apollo 11 landing, 1969", "preset": "balanced"}')),
        Endpoint("POST", "/api/v1/generate/stream",
                 "The same as server-sent events: progress as it happens, then the result.",
                 _curl("POST", "/api/v1/generate/stream", KEY, body='{"query": "Apollo 11 landing, 1969"}')
                 .replace("curl -X", "curl -N -X", 1)),
        Endpoint("GET", "/api/v1/timepoints/{id}", "A timepoint you generated.",
                 _curl("GET", "/api/v1/timepoints/$TIMEPOINT_ID", KEY)),
        Endpoint("PATCH", "/api/v1/timepoints/{id}/visibility", "Make a timepoint public or private.",
                 _curl("PATCH", "/api/v1/timepoints/$TIMEPOINT_ID/visibility", KEY, body='{"visibility": "public"}')),
    ]),
    Group("credits", "Credits", [
        Endpoint("GET", "/api/v1/credits/balance", "Your balance.", _curl("GET", "/api/v1/credits/balance", KEY)),
        Endpoint("GET", "/api/v1/credits/history", "Your transactions, newest first; limit and offset pass through.",
                 _curl("GET", "/api/v1/credits/history?limit=20&offset=0", KEY)),
        Endpoint("GET", "/api/v1/credits/costs", "What each operation costs, in credits.",
                 _curl("GET", "/api/v1/credits/costs", KEY)),
    ]),
    Group("clockchain", "Browsing moments", [
        Endpoint("GET", "/api/v1/moments/{path}", "A moment by its path.",
                 _curl("GET", "/api/v1/moments/1969/07/20/apollo-11", KEY)),
        Endpoint("GET", "/api/v1/browse/{path}", "Browse moments by date; also works without a key, limited per IP.",
                 _curl("GET", "/api/v1/browse/1969/07")),
        Endpoint("GET", "/api/v1/today", "Moments on this day in history.", _curl("GET", "/api/v1/today", KEY)),
        Endpoint("GET", "/api/v1/search?q=", "Search moments.", _curl("GET", "/api/v1/search?q=moon+landing", KEY)),
        Endpoint("GET", "/api/v1/graph/neighbors/{id}", "Moments linked to a moment.",
                 _curl("GET", "/api/v1/graph/neighbors/$MOMENT_ID", KEY)),
    ]),
    Group("keys", "Managing keys", [
        Endpoint("POST", "/api/v1/keys", "Create a key (environment live or test); the response holds the key, once.",
                 _curl("POST", "/api/v1/keys", TOKEN, body='{"name": "ci", "environment": "test"}')),
        Endpoint("GET", "/api/v1/keys", "Your keys, revoked ones included; never the key itself.",
                 _curl("GET", "/api/v1/keys", TOKEN)),
        Endpoint("PATCH", "/api/v1/keys/{id}",
                 "Change a key's name, monthly credit budget (null: none) or expiry (null: never).",
                 _curl("PATCH", "/api/v1/keys/$KEY_ID", TOKEN,
                       body='{"monthly_credit_limit": 500, "expires_at": "2027-03-01T00:00:00Z"}')),
        Endpoint("POST", "/api/v1/keys/{id}/roll",
                 "Replace a key: a new one (shown once) with its name, budget and this month's spending (not its "
                 "expiry); the old one works for grace_seconds more.",
                 _curl("POST", "/api/v1/keys/$KEY_ID/roll", TOKEN, body='{"grace_seconds": 3600}')),
        Endpoint("DELETE", "/api/v1/keys/{id}", "Revoke a key; it is refused from then on.",
                 _curl("DELETE", "/api/v1/keys/$KEY_ID", TOKEN)),
        Endpoint("GET", "/api/v1/keys/{id}/usage",
                 "A key's usage per day and per endpoint (optional from and to dates).",
                 _curl("GET", "/api/v1/keys/$KEY_ID/usage?from=2026-11-01&to=2026-11-30", TOKEN)),
        Endpoint("POST", "/api/v1/auth/login", "Trade an Auth0 access token for a billing session token.",
                 _curl("POST", "/api/v1/auth/login", '-H "Authorization: Bearer $AUTH0_ACCESS_TOKEN"')),
        Endpoint("GET", "/api/v1/auth/me", "Who you are: account, tier and plan.",
                 _curl("GET", "/api/v1/auth/me", TOKEN)),
        Endpoint("POST", "/api/v1/auth/logout", "End a session token.", _curl("POST", "/api/v1/auth/logout", TOKEN)),
    ], intro="These need a signed-in person's token ($TOKEN: an Auth0 access token or a tp_sess_ session token "
             "from POST /api/v1/auth/login) and answer 403 to an API key."),
    Group("billing", "Billing", [
        Endpoint("GET", "/api/v1/billing/plans", "Plans, credit packages and in-app products; no credential needed.",
                 _curl("GET", "/api/v1/billing/plans")),
        Endpoint("POST", "/api/v1/billing/checkout",
                 'Start a Stripe Checkout for a credit package (or a plan, with "plan"); open the checkout_url.',
                 _curl("POST", "/api/v1/billing/checkout", TOKEN, body='{"package": "100_credits"}')),
        Endpoint("POST", "/api/v1/billing/portal", "A link to Stripe's billing portal, to manage or cancel a plan.",
                 _curl("POST", "/api/v1/billing/portal", TOKEN)),
        Endpoint("POST", "/api/v1/billing/verify-receipt",
                 "Redeem an App Store purchase (StoreKit 2 signed transaction).",
                 _curl("POST", "/api/v1/billing/verify-receipt", TOKEN, body='{"signed_transaction": "eyJ…"}')),
        Endpoint("POST", "/api/v1/billing/payment-method",
                 "Save a card for auto-reload: a Stripe Checkout in setup mode (nothing is charged); open the "
                 "checkout_url.", _curl("POST", "/api/v1/billing/payment-method", TOKEN)),
        Endpoint("GET", "/api/v1/billing/auto-reload",
                 "Your auto-reload: on or off, threshold, package, monthly limit, reloads this month, the saved "
                 "card and the last error.", _curl("GET", "/api/v1/billing/auto-reload", TOKEN)),
        Endpoint("PUT", "/api/v1/billing/auto-reload",
                 "Buy the package with the saved card when a balance read is below the threshold, at most "
                 "monthly_limit times a month; a declined payment turns it off and emails you.",
                 _curl("PUT", "/api/v1/billing/auto-reload", TOKEN,
                       body='{"enabled": true, "threshold": 20, "package": "100_credits", "monthly_limit": 3}')),
    ]),
    Group("health", "Health", [
        Endpoint("GET", "/health", "Liveness; no credential.", _curl("GET", "/health")),
        Endpoint("GET", "/health/ready", "Ready when the database and the cache answer, 503 otherwise.",
                 _curl("GET", "/health/ready")),
    ]),
]
