"""Settings come from the environment only (CONTRACT.md §1); production refuses to
start on development defaults. Each case is a fresh interpreter, as a deploy is."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONTRACT_VARS = {
    "ENVIRONMENT", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DATABASE_URL", "REDIS_URL", "AUTH0_DOMAIN",
    "AUTH0_AUDIENCE", "AUTH0_ISSUER", "AUTH0_JWKS_URL", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET",
    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "FLASH_URL", "FLASH_SERVICE_KEY",
    "FLASH_ADMIN_KEY", "CLOCKCHAIN_URL", "CLOCKCHAIN_SERVICE_KEY", "APPLE_VERIFY_URL", "APPLE_SHARED_SECRET",
    "CORS_ALLOWED_ORIGINS", "LOG_FORMAT", "LOG_LEVEL", "RAILWAY_PUBLIC_DOMAIN", "APPLE_ROOT_CERTIFICATES",
    "APPLE_BUNDLE_ID", "APPLE_APP_APPLE_ID", "APPLE_ENVIRONMENT", "OPERATOR_EMAILS",
}

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "k3y-for-the-deploy-check-" + "x9Qz7" * 10,
    "DATABASE_URL": "postgres://billing:pw@db.internal:5432/billing",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "AUTH0_DOMAIN": "timepoint.us.auth0.com",
    "FLASH_URL": "https://flash.internal",
    "FLASH_SERVICE_KEY": "flash-service",
    "FLASH_ADMIN_KEY": "flash-admin",
    "CLOCKCHAIN_URL": "https://clockchain.internal",
    "CLOCKCHAIN_SERVICE_KEY": "clockchain-service",
    "STRIPE_SECRET_KEY": "sk_test_" + "a" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "b" * 24,
}

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'cache': s.CACHES['default']['BACKEND'], "
    "'debug': s.DEBUG, 'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0), 'ssl': s.SECURE_SSL_REDIRECT, "
    "'formatter': s.LOGGING['handlers']['console']['formatter'], 'hosts': s.ALLOWED_HOSTS}))"
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARS}
    clean["DJANGO_SETTINGS_MODULE"] = "timepoint_billing.settings"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)


def show(**env: str) -> dict:
    result = run(["-c", SHOW], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_runs_on_embedded_defaults_with_nothing_set():
    values = show()
    assert values["engine"] == "core.sqlite"  # Django's SQLite backend (core/sqlite/base.py)
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["debug"] is False
    assert values["formatter"] == "text"


def test_it_uses_redis_when_redis_url_is_set():
    assert show(REDIS_URL="redis://127.0.0.1:6379/7")["cache"] == "django_redis.cache.RedisCache"


def _sandbox_verify_url(**env: str) -> str:
    result = run(["-c", "import django; django.setup(); from django.conf import settings; "
                        "print(settings.APPLE_SANDBOX_VERIFY_URL)"], **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_it_retries_a_sandbox_receipt_at_apples_sandbox_by_default():
    assert _sandbox_verify_url() == "https://sandbox.itunes.apple.com/verifyReceipt"


def test_it_retries_a_sandbox_receipt_where_apple_verify_url_points_when_that_alone_is_set():
    assert _sandbox_verify_url(APPLE_VERIFY_URL="http://127.0.0.1:9/verifyReceipt") == \
        "http://127.0.0.1:9/verifyReceipt"
    assert _sandbox_verify_url(APPLE_VERIFY_URL="http://127.0.0.1:9/verifyReceipt",
                               APPLE_SANDBOX_VERIFY_URL="http://127.0.0.1:9/sandbox") == "http://127.0.0.1:9/sandbox"


def test_it_refuses_production_naming_what_is_missing():
    result = run(["manage.py", "check"], ENVIRONMENT="production", FLASH_URL="https://flash.internal")
    assert result.returncode != 0
    message = result.stderr
    assert "ENVIRONMENT=production refuses to start without" in message
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AUTH0_DOMAIN", "FLASH_SERVICE_KEY",
                 "FLASH_ADMIN_KEY", "CLOCKCHAIN_URL", "CLOCKCHAIN_SERVICE_KEY", "STRIPE_SECRET_KEY"):
        assert name in message
    assert "FLASH_URL," not in message and not message.rstrip().endswith("FLASH_URL")


def test_it_refuses_production_without_postgresql():
    result = run(["manage.py", "check"], **{**PRODUCTION, "DATABASE_URL": "sqlite:///prod.sqlite3"})
    assert result.returncode != 0
    assert "PostgreSQL DATABASE_URL" in result.stderr


def test_it_refuses_an_unknown_environment():
    result = run(["manage.py", "check"], ENVIRONMENT="staging")
    assert result.returncode != 0
    assert "ENVIRONMENT must be development, test or production" in result.stderr


def test_it_passes_the_deploy_check_in_production(tmp_path):
    from standins.storekit import AppleChain

    root = tmp_path / "AppleRootCA.cer"
    root.write_bytes(AppleChain().root_der())
    storekit = {"APPLE_ROOT_CERTIFICATES": str(root), "APPLE_APP_APPLE_ID": "1234567890",
                "OPERATOR_EMAILS": "ops@example.com"}
    # PRODUCTION's database does not exist: two of dj-stripe's checks read it and give up
    # (no issue) once the pool's timeout passes, 5 s each by default.
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION, **storekit,
                 DB_POOL_TIMEOUT="0.2")
    assert result.returncode == 0, result.stderr + result.stdout


def test_it_hardens_production():
    values = show(**PRODUCTION)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["cache"] == "django_redis.cache.RedisCache"
    assert values["debug"] is False
    assert values["ssl"] is True and values["hsts"] >= 31536000
    assert values["formatter"] == "json"
    assert "*" not in values["hosts"] and "api.timepointai.com" in values["hosts"]


def test_it_never_debugs_in_production():
    assert show(**PRODUCTION, DEBUG="true")["debug"] is False


def test_it_starts_on_make_runs_environment_without_warnings(standins):
    # make run points every integration at its stand-in (Stripe's API base, the Apple
    # stand-in's root certificate…): that must not cost a warning on every start.
    from standins.__main__ import environment

    result = run(["manage.py", "check", "--fail-level", "WARNING"], **environment(standins))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_it_sends_stripe_calls_to_the_configured_api_base():
    probe = "import django; django.setup(); import stripe; print(stripe.api_base)"
    result = run(["-c", probe], STRIPE_API_BASE="http://127.0.0.1:8104")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8104"


def _read_by_settings() -> set[str]:
    source = (ROOT / "timepoint_billing" / "settings.py").read_text()
    return set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source))


def _read_by_gunicorn() -> set[str]:
    # gunicorn.conf.py is loaded by gunicorn's master, without Django: it reads its own.
    source = (ROOT / "gunicorn.conf.py").read_text()
    return set(re.findall(r'os\.environ\.get\(\s*["\']([A-Z][A-Z0-9_]*)["\']', source))


def _configuration_table() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]


def test_every_variable_it_reads_is_in_the_readmes_configuration_table():
    read = _read_by_settings()
    assert len(read) > 40
    assert sorted(name for name in read if f"`{name}`" not in _configuration_table()) == []


def test_every_variable_gunicorn_reads_is_in_the_readmes_configuration_table():
    read = _read_by_gunicorn()
    assert {"WEB_CONCURRENCY", "GUNICORN_TIMEOUT"} <= read
    assert sorted(name for name in read if f"`{name}`" not in _configuration_table()) == []


def test_every_variable_in_the_readmes_configuration_table_is_read():
    # The first column of each row names the variables; a name nobody reads any more
    # would send an operator setting something that does nothing.
    rows = [line for line in _configuration_table().splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}
    assert len(documented) > 40
    assert sorted(documented - _read_by_settings() - _read_by_gunicorn()) == []
