"""The start-up check that behind Railway's proxy the client IP comes from the proxy's
header: without it every client shares the proxy's address, and one client's failed
authentications would refuse everyone (CONTRACT.md §5 limits them per client IP)."""

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db  # other apps' checks read the database


def _gateway_messages() -> list:
    return [message for message in run_checks() if message.id.startswith("gateway.")]


@pytest.fixture
def on_railway(settings):
    settings.PRODUCTION = True
    settings.RAILWAY_PUBLIC_DOMAIN = "timepoint-billing-production.up.railway.app"
    settings.TRUSTED_PROXY_IP_HEADER = ""
    return settings


def test_it_warns_in_production_behind_railway_without_a_client_ip_header(on_railway):
    [warning] = _gateway_messages()
    assert warning.id == "gateway.W001"
    assert "TRUSTED_PROXY_IP_HEADER" in warning.msg and "HTTP_X_REAL_IP" in warning.hint


def test_it_is_quiet_once_the_header_is_named(on_railway):
    on_railway.TRUSTED_PROXY_IP_HEADER = "HTTP_X_REAL_IP"
    assert _gateway_messages() == []


def test_it_is_quiet_off_railway_and_outside_production(settings):
    settings.TRUSTED_PROXY_IP_HEADER = ""
    settings.PRODUCTION, settings.RAILWAY_PUBLIC_DOMAIN = True, ""
    assert _gateway_messages() == []
    settings.PRODUCTION, settings.RAILWAY_PUBLIC_DOMAIN = False, "billing.up.railway.app"
    assert _gateway_messages() == []
