"""Start-up checks (`manage.py check`, also run by migrate and runserver): a StoreKit 2
configuration that cannot verify purchases is said at start-up, a warning outside
production and an error in production, instead of surfacing as a 503 per purchase."""

import pytest
from django.core.checks import run_checks

from standins.storekit import AppleChain

pytestmark = pytest.mark.django_db  # other apps' checks read the database


def _ids() -> set[str]:
    return {message.id for message in run_checks() if message.id.startswith("payments.")}


def test_it_warns_when_apple_root_certificates_are_unset(settings):
    settings.APPLE_ROOT_CERTIFICATES = []
    assert "payments.W001" in _ids()


def test_it_is_an_error_in_production(settings):
    settings.APPLE_ROOT_CERTIFICATES = []
    settings.PRODUCTION = True
    [error] = [m for m in run_checks() if m.id == "payments.E001"]
    assert error.is_serious() and "APPLE_ROOT_CERTIFICATES" in error.msg


def test_it_names_an_unreadable_root(settings, tmp_path):
    garbage = tmp_path / "not-a-cert.cer"
    garbage.write_bytes(b"hello")
    settings.APPLE_ROOT_CERTIFICATES = [str(garbage), str(tmp_path / "missing.cer")]
    messages = [m for m in run_checks() if m.id == "payments.W002"]
    assert len(messages) == 2
    assert "not-a-cert.cer" in messages[0].msg and "missing.cer" in messages[1].msg


def test_it_needs_no_app_store_id_in_production(settings, tmp_path):
    # A signed transaction is verified without one (payments/apple.py).
    root = tmp_path / "root.cer"
    root.write_bytes(AppleChain().root_der())
    settings.APPLE_ROOT_CERTIFICATES = [str(root)]
    settings.APPLE_ENVIRONMENT, settings.APPLE_APP_APPLE_ID = "Production", None
    assert _ids() == set()


def test_it_is_quiet_when_storekit_is_configured(settings, tmp_path):
    root = tmp_path / "root.cer"
    root.write_bytes(AppleChain().root_der())
    settings.APPLE_ROOT_CERTIFICATES = [str(root)]
    settings.APPLE_ENVIRONMENT = "Sandbox"
    assert _ids() == set()
