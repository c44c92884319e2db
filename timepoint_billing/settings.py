"""The one settings module. Everything comes from the environment (CONTRACT.md §1), one
group per integration: Django itself; database and cache; security and limits; CORS;
Auth0, portal sign-in and its limits; Flash and Clockchain; Stripe; grant delivery and
reconciliation; Apple; usage records; email and operators; logging; DRF and the API
reference; static files. Every variable read here is in the README's configuration
table; what no operator sets is a constant of the module that uses it.

With no variable set the service runs on embedded defaults (SQLite file, local-memory
cache, development settings) so that a newcomer's first run needs nothing.
"""

import warnings
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

# --- Django ------------------------------------------------------------------------

ENVIRONMENT = env.str("ENVIRONMENT", default="development")
if ENVIRONMENT not in ("development", "test", "production"):
    raise ImproperlyConfigured(
        f"ENVIRONMENT must be development, test or production, not {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"


def _required_in_production() -> None:
    """Refuse to start a production process that would run on dev defaults."""
    needed = [
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "AUTH0_DOMAIN",
        "FLASH_URL",
        "FLASH_SERVICE_KEY",
        "FLASH_ADMIN_KEY",
        "CLOCKCHAIN_URL",
        "CLOCKCHAIN_SERVICE_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
    ]
    missing = [name for name in needed if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "ENVIRONMENT=production refuses to start without: " + ", ".join(missing)
        )
    if not env.str("DATABASE_URL").startswith(("postgres://", "postgresql://", "pgsql://")):
        raise ImproperlyConfigured(
            "ENVIRONMENT=production needs a PostgreSQL DATABASE_URL (postgres://…)"
        )


if PRODUCTION:
    _required_in_production()

# DEBUG shows tracebacks, and dj-stripe trusts a forged webhook header under it:
# it is opt-in for a developer's own machine, never a default.
DEBUG = env.bool("DEBUG", default=False) and not PRODUCTION
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789")
# Production answers its own name, Railway's domain for the service and the platform's
# health probe; anything else is set through ALLOWED_HOSTS.
_PRODUCTION_HOSTS = ["api.timepointai.com", "healthcheck.railway.app", "localhost", "127.0.0.1"]
# Railway sets RAILWAY_PUBLIC_DOMAIN when its edge proxy serves the service publicly.
RAILWAY_PUBLIC_DOMAIN = env.str("RAILWAY_PUBLIC_DOMAIN", default="")
_PRODUCTION_HOSTS += [h for h in [RAILWAY_PUBLIC_DOMAIN] if h]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=_PRODUCTION_HOSTS if PRODUCTION else ["*"])

INSTALLED_APPS = [
    "timepoint_billing.admin_site.BillingAdminConfig",  # django.contrib.admin, arranged for billing
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc's files, served by us (the API reference works offline)
    "django_ratelimit",
    "axes",
    "social_django",
    "djstripe",
    # Billing, bottom layer first (docs/architecture.md).
    "accounts",
    "apikeys",
    "gateway",
    "payments",
    "relay",
    "metering",
    "portal",
]

MIDDLEWARE = [
    "core.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Outside the body refusals and the envelope's 413, so that those are recorded too.
    "metering.middleware.UsageMiddleware",
    "core.bodies.UnreadableBodyMiddleware",
    "core.middleware.APIEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.MessagesWhenUsedMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gateway.middleware.RateLimitHeadersMiddleware",
    # social-auth's error page, with failed portal sign-ins counted by axes (below); axes'
    # own middleware last, as it asks, to answer a locked-out sign-in.
    "accounts.signin_limits.SignInFailureMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "timepoint_billing.urls"
WSGI_APPLICATION = "timepoint_billing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "social_django.context_processors.backends",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
FORMAT_MODULE_PATH = ["timepoint_billing.formats"]  # dates as 2026-11-30 12:55 (admin)
USE_I18N = True
USE_TZ = True

# --- database and cache ------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend, its writers taking turns cooperatively under gevent
    # (core/sqlite/base.py says why).
    DATABASES["default"]["ENGINE"] = "core.sqlite"
    # A file, not memory, so that pytest --reuse-db skips dj-stripe's minute of migrations.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}
    # Concurrent writers wait their turn instead of failing with "database is locked"
    # (a 503): a transaction takes the write lock when it begins (a deferred one that
    # read first cannot wait for it later), a busy writer is waited for up to 20 s,
    # and WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
else:
    # A pool per process (per gunicorn worker): however many requests and streams are in
    # flight, at most DB_POOL_MAX_SIZE connections. A request holds one only while it
    # queries (it is handed back before any upstream call: core/db.py);
    # one that waits longer than DB_POOL_TIMEOUT for one answers 503. No health check on
    # checkout: after a failure the pool's idle connections are dropped instead
    # (core/db.py), so a restarted PostgreSQL costs one failed request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
        # A connection is replaced after this long (PostgreSQL-side memory, failovers).
        "max_lifetime": env.float("DB_POOL_MAX_LIFETIME", default=1800.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tpb"),
            "OPTIONS": {
                # A dead Redis must fail fast, not hang every request.
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.5),
                # At most REDIS_MAX_CONNECTIONS per process, however many requests are in
                # flight: a request that finds them all busy waits up to REDIS_POOL_TIMEOUT
                # seconds for one (then the cache counts as unavailable: fail-open).
                "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
                "CONNECTION_POOL_KWARGS": {
                    "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=50),
                    "timeout": env.float("REDIS_POOL_TIMEOUT", default=1.0),
                },
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "timepoint-billing",
        }
    }
    # The embedded single-process default has no shared atomic cache; production
    # always has REDIS_URL (enforced above), so these checks stay on there.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001", "axes.W001"]

RATELIMIT_USE_CACHE = "default"

# --- security and limits -----------------------------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # Railway's proxy
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health"]  # the platform's health probe speaks plain http
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Bodies above this are refused with 413 before anyone parses them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)

# The client IP comes from REMOTE_ADDR unless a proxy header is named as trusted
# (e.g. HTTP_X_FORWARDED_FOR behind Railway); trusting it by default would let any
# client pick its own rate-limit bucket.
TRUSTED_PROXY_IP_HEADER = env.str("TRUSTED_PROXY_IP_HEADER", default="")
# Failed API authentications allowed per client IP and minute before 429 (key guessing;
# limits/failures.py). Many honest users behind one address may need more.
AUTH_FAILURES_PER_MINUTE = env.int("AUTH_FAILURES_PER_MINUTE", default=100)

# --- CORS (CONTRACT.md §1) ---------------------------------------------------------


def _split_origins(origins: list[str]) -> tuple[list[str], list[str]]:
    """`http://localhost:*` style entries become regexes, the rest stay exact."""
    exact, patterns = [], []
    for origin in origins:
        if "*" in origin:
            escaped = "^" + origin.replace(".", r"\.").replace(":*", r"(:\d+)?").replace("*", r"[^/]*") + "$"
            patterns.append(escaped)
        else:
            exact.append(origin)
    return exact, patterns


CORS_ALLOWED_ORIGINS, CORS_ALLOWED_ORIGIN_REGEXES = _split_origins(
    env.list(
        "CORS_ALLOWED_ORIGINS",
        default=["https://app.timepointai.com", "https://timepointai.com", "http://localhost:*"],
    )
)
CORS_ALLOW_CREDENTIALS = True
# The SPA may send its own request id to trace a call end to end.
CORS_ALLOW_HEADERS = (*default_cors_headers, "x-request-id")
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
    "X-Credits-Spent",
    "X-Budget-Remaining",
    "Retry-After",
]

# --- Auth0, portal sign-in and sign-in limits --------------------------------------

AUTH0_DOMAIN = env.str("AUTH0_DOMAIN", default="")
AUTH0_AUDIENCE = env.str("AUTH0_AUDIENCE", default="https://api.timepointai.com")
AUTH0_ISSUER = env.str("AUTH0_ISSUER", default=f"https://{AUTH0_DOMAIN}/" if AUTH0_DOMAIN else "")
AUTH0_JWKS_URL = env.str(
    "AUTH0_JWKS_URL", default=f"{AUTH0_ISSUER}.well-known/jwks.json" if AUTH0_ISSUER else ""
)
AUTH0_CLIENT_ID = env.str("AUTH0_CLIENT_ID", default="")
AUTH0_CLIENT_SECRET = env.str("AUTH0_CLIENT_SECRET", default="")

# axes first: it refuses a locked-out client before any backend checks a password. The
# portal signs in with social-auth's Auth0 backend, pointed at AUTH0_ISSUER
# (accounts.backends); operators with Django's own.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.Auth0",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/portal/login/"

SOCIAL_AUTH_AUTH0_DOMAIN = AUTH0_DOMAIN
SOCIAL_AUTH_AUTH0_KEY = AUTH0_CLIENT_ID
SOCIAL_AUTH_AUTH0_SECRET = AUTH0_CLIENT_SECRET
SOCIAL_AUTH_AUTH0_SCOPE = ["openid", "profile", "email"]
# social-core adds its backend's default scope (the same three) to this one unless told not to.
SOCIAL_AUTH_AUTH0_IGNORE_DEFAULT_SCOPE = True
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/portal/"
# No LOGIN_ERROR_URL: a failed sign-in renders social_django/error.html with its status
# (an error URL of /portal/login/ would bounce straight back to Auth0).
SOCIAL_AUTH_REDIRECT_IS_HTTPS = PRODUCTION
# Auth0 tokens are not kept in the database: the portal needs only who signed in.
SOCIAL_AUTH_AUTH0_EXTRA_DATA = []
SOCIAL_AUTH_PIPELINE = [
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    # Before any Django user is made: the billing Account (Flash resolve on first sight).
    "accounts.pipeline.resolve_account",
    "social_core.pipeline.user.get_username",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "accounts.pipeline.link_account",
    "social_core.pipeline.user.user_details",
]

# Brute-force limits on admin and portal sign-in (django-axes; accounts/signin_limits.py):
# SIGNIN_FAILURE_LIMIT failures from one client IP, or for one username, lock that IP or
# username out of signing in for SIGNIN_LOCKOUT_MINUTES. Counted in the shared cache, so
# every worker and instance counts together. The API's Bearer authentication is not
# concerned (AUTH_FAILURES_PER_MINUTE above).
AXES_HANDLER = "accounts.signin_limits.SharedCacheHandler"
AXES_CACHE = "default"
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = "accounts.signin_limits.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "core.context.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.signin_limits.lockout_response"
# The cache handler keeps no database records: axes' admin pages would always be empty.
# Operators lift a lockout with `manage.py axes_reset_ip IP` / `axes_reset_username NAME`.
AXES_ENABLE_ADMIN = False

# --- Flash and Clockchain ----------------------------------------------------------

FLASH_URL = env.str("FLASH_URL", default="")
FLASH_SERVICE_KEY = env.str("FLASH_SERVICE_KEY", default="")
FLASH_ADMIN_KEY = env.str("FLASH_ADMIN_KEY", default="")
FLASH_TEST_URL = env.str("FLASH_TEST_URL", default="")
CLOCKCHAIN_URL = env.str("CLOCKCHAIN_URL", default="")
CLOCKCHAIN_SERVICE_KEY = env.str("CLOCKCHAIN_SERVICE_KEY", default="")
UPSTREAM_CONNECT_TIMEOUT = env.float("UPSTREAM_CONNECT_TIMEOUT", default=3.0)
UPSTREAM_READ_TIMEOUT = env.float("UPSTREAM_READ_TIMEOUT", default=10.0)
GENERATION_TIMEOUT = env.float("GENERATION_TIMEOUT", default=120.0)
# While a caller's generations are in flight, the pre-checks of more of them take their
# cost from a copy of the balance (shared cache) read from Flash at most this many
# seconds ago, instead of asking Flash each (relay/precheck.py). 0: every pre-check asks.
PRECHECK_BALANCE_SECONDS = env.float("PRECHECK_BALANCE_SECONDS", default=1.0)
# Kept-alive connections per upstream host and process (more are opened when more
# calls run at once, and closed after them).
UPSTREAM_POOL_SIZE = env.int("UPSTREAM_POOL_SIZE", default=100)
# An API key's credit reads served beside Django's middleware and DRF by the same code
# (timepoint_billing/read_lane.py: about a quarter of a read's CPU); off: all through Django.
READ_LANE = env.bool("READ_LANE", default=True)

# --- Stripe ------------------------------------------------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Read by upstreams/stripe.py only. No STRIPE_API_HOST: dj-stripe would warn
# (djstripe.W002) on every start outside DEBUG.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_PRICE_100_CREDITS = env.str("STRIPE_PRICE_100_CREDITS", default="")
STRIPE_PRICE_500_CREDITS = env.str("STRIPE_PRICE_500_CREDITS", default="")
STRIPE_PRICE_EXPLORER = env.str("STRIPE_PRICE_EXPLORER", default="")
STRIPE_PRICE_HISTORIAN = env.str("STRIPE_PRICE_HISTORIAN", default="")
STRIPE_PRICE_API_PRO = env.str("STRIPE_PRICE_API_PRO", default="")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
# The admin links a Stripe object to its page in Stripe's dashboard (the stand-in's locally).
STRIPE_DASHBOARD_URL = env.str("STRIPE_DASHBOARD_URL", default="https://dashboard.stripe.com")
# Where Stripe Checkout and the billing portal send people back to (the app's pages).
PAYMENTS_SUCCESS_URL = env.str(
    "PAYMENTS_SUCCESS_URL", default="https://app.timepointai.com/billing/success?session_id={CHECKOUT_SESSION_ID}"
)
PAYMENTS_CANCEL_URL = env.str("PAYMENTS_CANCEL_URL", default="https://app.timepointai.com/billing/cancel")
# Its first release called it PAYMENTS_PORTAL_RETURN_URL; a deployment that still sets
# that name keeps its value.
PAYMENTS_BILLING_PORTAL_RETURN_URL = env.str(
    "PAYMENTS_BILLING_PORTAL_RETURN_URL",
    default=env.str("PAYMENTS_PORTAL_RETURN_URL", default="https://app.timepointai.com/billing")
)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True

# --- grant delivery and reconciliation ---------------------------------------------

# The grant worker's pacing (payments/grants.py, manage.py process_grants): waits
# between attempts double from PAYMENTS_GRANT_BACKOFF_BASE seconds; an attempt's claim
# (its lease) outlasts the longest attempt, after which a dead worker's grant is taken
# over; an idle worker looks for due grants every PAYMENTS_WORKER_INTERVAL seconds.
PAYMENTS_GRANT_BACKOFF_BASE = env.float("PAYMENTS_GRANT_BACKOFF_BASE", default=10.0)
PAYMENTS_GRANT_LEASE_SECONDS = env.float("PAYMENTS_GRANT_LEASE_SECONDS", default=120.0)
PAYMENTS_WORKER_INTERVAL = env.float("PAYMENTS_WORKER_INTERVAL", default=5.0)
# Reconciliation (manage.py reconcile_ledger): the default window, how long a payment's
# webhook may still be on its way, when a pending grant is overdue.
PAYMENTS_RECONCILE_DAYS = env.int("PAYMENTS_RECONCILE_DAYS", default=3)
PAYMENTS_RECONCILE_GRACE_SECONDS = env.int("PAYMENTS_RECONCILE_GRACE_SECONDS", default=900)
PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS = env.int("PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS", default=3600)

# --- Apple -------------------------------------------------------------------------

_APPLE_PRODUCTION_VERIFY_URL = "https://buy.itunes.apple.com/verifyReceipt"
APPLE_VERIFY_URL = env.str("APPLE_VERIFY_URL", default=_APPLE_PRODUCTION_VERIFY_URL)
# Where a receipt answered 21007 (a sandbox receipt) is verified again. CONTRACT.md §1
# names only APPLE_VERIFY_URL as overridable: with it pointed at a stand-in and this
# unset, the retry goes to the stand-in too, never from there to Apple's real sandbox.
APPLE_SANDBOX_VERIFY_URL = env.str("APPLE_SANDBOX_VERIFY_URL", default=(
    "https://sandbox.itunes.apple.com/verifyReceipt" if APPLE_VERIFY_URL == _APPLE_PRODUCTION_VERIFY_URL
    else APPLE_VERIFY_URL))
APPLE_SHARED_SECRET = env.str("APPLE_SHARED_SECRET", default="")
# StoreKit 2 signed transactions are verified against these root certificates (DER or
# PEM files, comma-separated paths; Apple's AppleRootCA-G3.cer in production).
APPLE_ROOT_CERTIFICATES = env.list("APPLE_ROOT_CERTIFICATES", default=[])
APPLE_BUNDLE_ID = env.str("APPLE_BUNDLE_ID", default="com.timepointai.app")
APPLE_APP_APPLE_ID = env.int("APPLE_APP_APPLE_ID", default=None)
APPLE_ENVIRONMENT = env.str("APPLE_ENVIRONMENT", default="Production")  # or Sandbox

# --- usage records -----------------------------------------------------------------

# Raw usage records older than this are purged, once their day is rolled up.
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=90)
# The usage writer (metering/writer.py): queued records are stored at least this often
# (seconds), one COPY per batch on PostgreSQL (a multi-row INSERT on SQLite).
USAGE_BATCH_INTERVAL = env.float("USAGE_BATCH_INTERVAL", default=0.25)
# Records a process keeps queued while PostgreSQL is unreachable; past this, new ones
# are dropped (counted and logged).
USAGE_QUEUE_LIMIT = env.int("USAGE_QUEUE_LIMIT", default=100_000)
# The longest wait between two attempts to store a batch while PostgreSQL is down.
USAGE_RETRY_MAX_SECONDS = env.float("USAGE_RETRY_MAX_SECONDS", default=10.0)

# --- email and operators -----------------------------------------------------------

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@timepointai.com")
# Who is emailed when a grant needs a person (stuck, failed, Flash refusing billing's
# key). Not Django's ADMINS: that would also mail every 500's request details.
OPERATOR_EMAILS = env.list("OPERATOR_EMAILS", default=[])

# --- logging -----------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logs.RequestIDFilter"},
        "redact": {"()": "core.logs.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {"()": "core.logs.JSONFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": env.str("LOG_FORMAT", default="json" if PRODUCTION else "text"),
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        # Its version banner on every process start; lockouts still log (axes.handlers).
        "axes.apps": {"level": "WARNING"},
        # Under gevent more upstream calls run at once than the pool keeps idle
        # (UPSTREAM_POOL_SIZE); each surplus connection closed after a burst would log
        # "Connection pool is full, discarding connection" at WARNING.
        "urllib3.connectionpool": {"level": "ERROR"},
        # stripe-python logs two INFO lines per API call (request and response, with
        # their URLs); billing logs what it did with Stripe's answer, and its failures.
        "stripe": {"level": "WARNING"},
    },
}

# --- DRF and the API reference -----------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gateway.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.IsCaller"],
    "DEFAULT_THROTTLE_CLASSES": ["gateway.throttling.TierRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.request_json.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.FallbackContentNegotiation",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TIMEPOINT API",
    "DESCRIPTION": (BASE_DIR / "timepoint_billing" / "api_reference.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The rate-limit and cost headers on the responses that carry them.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "gateway.schema.response_headers"],
    # Redoc's files come from drf-spectacular-sidecar, not a CDN: /api/v1/docs/ works offline.
    "REDOC_DIST": "SIDECAR",
    # The reference's sections, in reading order.
    "TAGS": [
        {"name": "auth", "description": "Sign in with Auth0 and trade the token for a session token."},
        {"name": "keys", "description": "API keys for your programs, and their usage."},
        {"name": "timepoints", "description": "Generate timepoints (at once or streamed) and share them."},
        {"name": "credits", "description": "Your balance, its history, and what a generation costs."},
        {"name": "clockchain", "description": "Browse and search Clockchain's graph of moments; public."},
        {"name": "billing", "description": "Plans and credit packages, Stripe Checkout, Apple purchases."},
        {"name": "usage", "description": "Your account's requests and spending over time."},
        {"name": "health", "description": "Liveness and readiness, for monitors."},
    ],
}

# --- static files ------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    # Outside production static files come from the finders; an absent STATIC_ROOT
    # (no collectstatic yet) is expected, not worth a warning on every start.
    warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
