"""The one settings module. Everything comes from the environment (CONTRACT.md §1).

With no variable set the service runs on embedded defaults (SQLite file, local-memory
cache, development settings) so that a newcomer's first run needs nothing.
"""

import warnings
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

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
_PRODUCTION_HOSTS += [h for h in [env.str("RAILWAY_PUBLIC_DOMAIN", default="")] if h]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=_PRODUCTION_HOSTS if PRODUCTION else ["*"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "django_ratelimit",
    "social_django",
    "djstripe",
    "accounts",
    "apikeys",
    "payments",
    "relay",
    "metering",
]

MIDDLEWARE = [
    "timepoint_billing.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "timepoint_billing.middleware.APIEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apikeys.middleware.RateLimitHeadersMiddleware",
    "metering.middleware.UsageMiddleware",
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

# --- database and cache -------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that pytest --reuse-db skips dj-stripe's minute of migrations.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    # A restarted PostgreSQL is noticed on the next request instead of failing it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
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
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

RATELIMIT_USE_CACHE = "default"
# The client IP comes from REMOTE_ADDR unless a proxy header is named as trusted
# (e.g. HTTP_X_FORWARDED_FOR behind Railway); trusting it by default would let any
# client pick its own rate-limit bucket.
TRUSTED_PROXY_IP_HEADER = env.str("TRUSTED_PROXY_IP_HEADER", default="")

# --- security ----------------------------------------------------------------------

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
    "Retry-After",
]

# --- auth ----------------------------------------------------------------------------

AUTH0_DOMAIN = env.str("AUTH0_DOMAIN", default="")
AUTH0_AUDIENCE = env.str("AUTH0_AUDIENCE", default="https://api.timepointai.com")
AUTH0_ISSUER = env.str("AUTH0_ISSUER", default=f"https://{AUTH0_DOMAIN}/" if AUTH0_DOMAIN else "")
AUTH0_JWKS_URL = env.str(
    "AUTH0_JWKS_URL", default=f"{AUTH0_ISSUER}.well-known/jwks.json" if AUTH0_ISSUER else ""
)
AUTH0_CLIENT_ID = env.str("AUTH0_CLIENT_ID", default="")
AUTH0_CLIENT_SECRET = env.str("AUTH0_CLIENT_SECRET", default="")
AUTH0_LEEWAY_SECONDS = env.int("AUTH0_LEEWAY_SECONDS", default=30)
AUTH0_JWKS_CACHE_SECONDS = env.int("AUTH0_JWKS_CACHE_SECONDS", default=600)
# An unknown kid refetches the key set at most this often (a flood of forged kids
# must not turn into a flood of requests to Auth0).
AUTH0_JWKS_REFETCH_SECONDS = env.int("AUTH0_JWKS_REFETCH_SECONDS", default=60)

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/portal/login/"

# --- upstream services ---------------------------------------------------------------

FLASH_URL = env.str("FLASH_URL", default="")
FLASH_SERVICE_KEY = env.str("FLASH_SERVICE_KEY", default="")
FLASH_ADMIN_KEY = env.str("FLASH_ADMIN_KEY", default="")
FLASH_TEST_URL = env.str("FLASH_TEST_URL", default="")
CLOCKCHAIN_URL = env.str("CLOCKCHAIN_URL", default="")
CLOCKCHAIN_SERVICE_KEY = env.str("CLOCKCHAIN_SERVICE_KEY", default="")
UPSTREAM_CONNECT_TIMEOUT = env.float("UPSTREAM_CONNECT_TIMEOUT", default=3.0)
UPSTREAM_READ_TIMEOUT = env.float("UPSTREAM_READ_TIMEOUT", default=10.0)
GENERATION_TIMEOUT = env.float("GENERATION_TIMEOUT", default=120.0)

# --- payments ------------------------------------------------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_PRICE_100_CREDITS = env.str("STRIPE_PRICE_100_CREDITS", default="")
STRIPE_PRICE_500_CREDITS = env.str("STRIPE_PRICE_500_CREDITS", default="")
STRIPE_PRICE_EXPLORER = env.str("STRIPE_PRICE_EXPLORER", default="")
STRIPE_PRICE_HISTORIAN = env.str("STRIPE_PRICE_HISTORIAN", default="")
STRIPE_PRICE_API_PRO = env.str("STRIPE_PRICE_API_PRO", default="")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE  # dj-stripe sets stripe.api_base from this

APPLE_VERIFY_URL = env.str("APPLE_VERIFY_URL", default="https://buy.itunes.apple.com/verifyReceipt")
APPLE_SANDBOX_VERIFY_URL = env.str(
    "APPLE_SANDBOX_VERIFY_URL", default="https://sandbox.itunes.apple.com/verifyReceipt"
)
APPLE_SHARED_SECRET = env.str("APPLE_SHARED_SECRET", default="")

# --- logging ---------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "timepoint_billing.logs.RequestIDFilter"},
        "redact": {"()": "timepoint_billing.logs.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {"()": "timepoint_billing.logs.JSONFormatter"},
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
    },
}

# --- DRF and docs ----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsCaller"],
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.limits.TierRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "timepoint_billing.negotiation.FallbackContentNegotiation",
    "EXCEPTION_HANDLER": "timepoint_billing.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TIMEPOINT API",
    "DESCRIPTION": "The front door of the TIMEPOINT platform: identity, API keys, "
    "payments, metering and the relay to Flash and Clockchain.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- static files ----------------------------------------------------------------------

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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@timepointai.com")

# --- accounts (identity issue) -----------------------------------------------------

# Session tokens live this long after their last use (sliding, refreshed hourly).
SESSION_TOKEN_TTL_DAYS = env.int("SESSION_TOKEN_TTL_DAYS", default=30)
# A cold JWKS fetch that failed is not retried for this long (Auth0 down must not
# turn every request into a connection attempt).
AUTH0_JWKS_FAILURE_BACKOFF_SECONDS = env.int("AUTH0_JWKS_FAILURE_BACKOFF_SECONDS", default=5)

# Portal sign-in: social-auth's Auth0 backend, pointed at AUTH0_ISSUER (accounts.backends).
AUTHENTICATION_BACKENDS = ["accounts.backends.Auth0", "django.contrib.auth.backends.ModelBackend"]
SOCIAL_AUTH_AUTH0_DOMAIN = AUTH0_DOMAIN
SOCIAL_AUTH_AUTH0_KEY = AUTH0_CLIENT_ID
SOCIAL_AUTH_AUTH0_SECRET = AUTH0_CLIENT_SECRET
SOCIAL_AUTH_AUTH0_SCOPE = ["openid", "profile", "email"]
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/portal/"
# No LOGIN_ERROR_URL: a failed sign-in renders social_django/error.html with its status
# (an error URL of /portal/login/ would bounce straight back to Auth0).
MIDDLEWARE = [*MIDDLEWARE, "social_django.middleware.SocialAuthExceptionMiddleware"]
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

# --- apikeys (keys and limits issue) -------------------------------------------------

APIKEYS_MAX_ACTIVE_PER_ACCOUNT = env.int("APIKEYS_MAX_ACTIVE_PER_ACCOUNT", default=25)
# How long a worker trusts a cached key record; revocation overwrites it at once.
APIKEYS_CACHE_SECONDS = env.int("APIKEYS_CACHE_SECONDS", default=30)
APIKEYS_LAST_USED_RESOLUTION_SECONDS = 60
# Failed authentications allowed per client IP and minute before 429 (key guessing).
AUTH_FAILURES_PER_MINUTE = env.int("AUTH_FAILURES_PER_MINUTE", default=100)
# A concurrency slot outlives a dead worker by at most this long; live streams refresh it.
CONCURRENCY_SLOT_SECONDS = env.int("CONCURRENCY_SLOT_SECONDS", default=int(GENERATION_TIMEOUT) + 30)

# --- relay (relay issue) -----------------------------------------------------------

# --- payments (payments issue) ---------------------------------------------------------
# Where Stripe Checkout and the billing portal send people back to.
PAYMENTS_SUCCESS_URL = env.str(
    "PAYMENTS_SUCCESS_URL", default="https://app.timepointai.com/billing/success?session_id={CHECKOUT_SESSION_ID}"
)
PAYMENTS_CANCEL_URL = env.str("PAYMENTS_CANCEL_URL", default="https://app.timepointai.com/billing/cancel")
PAYMENTS_PORTAL_RETURN_URL = env.str("PAYMENTS_PORTAL_RETURN_URL", default="https://app.timepointai.com/billing")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# Grant delivery to Flash (payments/grants.py, manage.py process_grants).
PAYMENTS_GRANT_INLINE_TIMEOUT = env.float("PAYMENTS_GRANT_INLINE_TIMEOUT", default=5.0)
PAYMENTS_GRANT_BACKOFF_BASE = env.float("PAYMENTS_GRANT_BACKOFF_BASE", default=10.0)
PAYMENTS_GRANT_BACKOFF_MAX = env.float("PAYMENTS_GRANT_BACKOFF_MAX", default=3600.0)
PAYMENTS_GRANT_MAX_ATTEMPTS = env.int("PAYMENTS_GRANT_MAX_ATTEMPTS", default=25)
# Longer than any one attempt (connect + read timeouts, plus a history scan): a row
# claimed by a worker that died is retried, and reconciled, after this.
PAYMENTS_GRANT_LEASE_SECONDS = env.float("PAYMENTS_GRANT_LEASE_SECONDS", default=120.0)
PAYMENTS_HISTORY_PAGE = env.int("PAYMENTS_HISTORY_PAGE", default=100)
PAYMENTS_HISTORY_SCAN = env.int("PAYMENTS_HISTORY_SCAN", default=500)
PAYMENTS_WORKER_INTERVAL = env.float("PAYMENTS_WORKER_INTERVAL", default=5.0)
# Reconciliation (manage.py reconcile_ledger): the default window, how long a payment's
# webhook may still be on its way, when a pending grant is overdue, and how many Flash
# histories are read at once.
PAYMENTS_RECONCILE_DAYS = env.int("PAYMENTS_RECONCILE_DAYS", default=3)
PAYMENTS_RECONCILE_GRACE_SECONDS = env.int("PAYMENTS_RECONCILE_GRACE_SECONDS", default=900)
PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS = env.int("PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS", default=3600)
PAYMENTS_RECONCILE_FLASH_THREADS = env.int("PAYMENTS_RECONCILE_FLASH_THREADS", default=8)
# The admin links a Stripe object to its page in Stripe's dashboard (the stand-in's locally).
STRIPE_DASHBOARD_URL = env.str("STRIPE_DASHBOARD_URL", default="https://dashboard.stripe.com")
# Apple: StoreKit 2 signed transactions are verified against these root certificates
# (DER or PEM files, comma-separated paths; Apple's AppleRootCA-G3.cer in production).
APPLE_ROOT_CERTIFICATES = env.list("APPLE_ROOT_CERTIFICATES", default=[])
APPLE_BUNDLE_ID = env.str("APPLE_BUNDLE_ID", default="com.timepointai.app")
APPLE_APP_APPLE_ID = env.int("APPLE_APP_APPLE_ID", default=None)
APPLE_ENVIRONMENT = env.str("APPLE_ENVIRONMENT", default="Production")  # or Sandbox
APPLE_TIMEOUT = env.float("APPLE_TIMEOUT", default=10.0)


# --- metering (metering issue) ---------------------------------------------------------
# A relayed call that shows a Flash balance below this sends one low-credit email.
LOW_CREDIT_THRESHOLD = env.int("LOW_CREDIT_THRESHOLD", default=20)
# Raw usage records older than this are purged, once their day is rolled up.
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=90)
# True: every usage INSERT waits for PostgreSQL's WAL flush (see docs/metering.md).
USAGE_SYNCHRONOUS_COMMIT = env.bool("USAGE_SYNCHRONOUS_COMMIT", default=False)
