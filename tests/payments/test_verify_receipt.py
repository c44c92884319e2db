import base64

import pytest
from django.test import Client

from payments.models import CreditGrant, GrantState

from .apple_certs import AppleChain
from .conftest import committed

URL = "/api/v1/billing/verify-receipt"


@pytest.fixture(scope="module")
def chain() -> AppleChain:
    return AppleChain()


@pytest.fixture(autouse=True)
def _apple_roots(settings, chain, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("apple") / "root.cer"
    path.write_bytes(chain.root_der())
    settings.APPLE_ROOT_CERTIFICATES = [str(path)]
    settings.APPLE_ENVIRONMENT = "Sandbox"
    settings.APPLE_BUNDLE_ID = "com.timepointai.app"


def _post(client: Client, body: dict):
    with committed():
        return client.post(URL, body, content_type="application/json")


def test_it_grants_a_storekit2_transaction_once(as_alice, alice, flash, chain):
    jws = chain.sign(transaction_id="2000000042", product_id="com.timepointai.credits.500")
    response = _post(as_alice, {"signed_transaction": jws})
    assert response.status_code == 200, response.content
    assert response.json() == {"granted": True, "credits": 500, "transaction_id": "2000000042"}
    again = _post(as_alice, {"signed_transaction": jws})
    assert again.status_code == 200 and again.json()["granted"] is False
    grant = CreditGrant.objects.get()
    assert (grant.state, grant.transaction_type, grant.apple_transaction_id) == (GrantState.APPLIED, "apple_iap",
                                                                                 "2000000042")
    assert [(g["amount"], g["transaction_type"]) for g in flash.grants(alice.flash_user_id)] == [(500, "apple_iap")]


def test_it_refuses_a_transaction_signed_by_another_root(as_alice, flash):
    stranger = AppleChain()
    response = _post(as_alice, {"signed_transaction": stranger.sign()})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert not CreditGrant.objects.exists()


def test_it_refuses_a_leaf_without_apples_marker(as_alice, settings, tmp_path):
    unmarked = AppleChain(leaf_oid=None)
    root = tmp_path / "root.cer"
    root.write_bytes(unmarked.root_der())
    settings.APPLE_ROOT_CERTIFICATES = [str(root)]
    assert _post(as_alice, {"signed_transaction": unmarked.sign()}).status_code == 400


def test_it_refuses_other_apps_environments_products_and_garbage(as_alice, chain):
    for jws in (chain.sign(bundle_id="com.someone.else"), chain.sign(environment="Production"),
                chain.sign(product_id="com.timepointai.unknown"), "not.a.jws"):
        assert _post(as_alice, {"signed_transaction": jws}).status_code == 400
    assert _post(as_alice, {}).status_code == 400
    assert not CreditGrant.objects.exists()


def _receipt(name: str) -> str:
    return base64.b64encode(name.encode()).decode()


def test_it_grants_a_legacy_receipt_once(as_alice, alice, flash, apple):
    apple.add_receipt(_receipt("r1"), [{"product_id": "com.timepointai.credits.100", "transaction_id": "1000000001",
                                        "purchase_date_ms": "1700000000000"}])
    first = _post(as_alice, {"receipt_data": _receipt("r1")})
    assert first.json() == {"granted": True, "credits": 100, "transaction_id": "1000000001"}
    assert _post(as_alice, {"receipt_data": _receipt("r1")}).json()["granted"] is False
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
    sent = apple.received("/verifyReceipt")[0].json()
    assert sent["password"] == apple.shared_secret


def test_it_retries_a_sandbox_receipt_at_the_sandbox(as_alice, apple):
    apple.add_receipt(_receipt("sb"), [{"product_id": "com.timepointai.credits.100", "transaction_id": "1000000002",
                                        "purchase_date_ms": "1700000000000"}], environment="Sandbox")
    response = _post(as_alice, {"receipt_data": _receipt("sb")})
    assert response.status_code == 200 and response.json()["granted"] is True
    assert [r.path for r in apple.received()] == ["/verifyReceipt", "/sandbox/verifyReceipt"]


def test_it_refuses_an_invalid_receipt(as_alice, apple):
    response = _post(as_alice, {"receipt_data": _receipt("unknown")})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert _post(as_alice, {"receipt_data": "%%%not base64"}).status_code == 400
    assert not CreditGrant.objects.exists()


def test_it_answers_503_while_apple_is_down_and_grants_on_retry(as_alice, apple):
    apple.add_receipt(_receipt("r2"), [{"product_id": "com.timepointai.credits.100", "transaction_id": "1000000003",
                                        "purchase_date_ms": "1700000000000"}])
    apple.fail(503)
    response = _post(as_alice, {"receipt_data": _receipt("r2")})
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"
    assert not CreditGrant.objects.exists()
    assert _post(as_alice, {"receipt_data": _receipt("r2")}).json()["granted"] is True


def test_it_grants_an_earlier_purchase_that_a_later_receipt_still_holds(as_alice, alice, flash, apple):
    # The first purchase's own submission never arrived (Apple was down, the app gave up);
    # the next purchase's receipt holds both: both are granted, each once.
    older = {"product_id": "com.timepointai.credits.100", "transaction_id": "1000000010",
             "purchase_date_ms": "1700000000000"}
    newer = {"product_id": "com.timepointai.credits.500", "transaction_id": "1000000011",
             "purchase_date_ms": "1700000600000"}
    apple.add_receipt(_receipt("both"), [older, newer])
    answer = _post(as_alice, {"receipt_data": _receipt("both")}).json()
    assert answer == {"granted": True, "credits": 600, "transaction_id": "1000000011"}
    assert sorted(g["amount"] for g in flash.grants(alice.flash_user_id)) == [100, 500]
    again = _post(as_alice, {"receipt_data": _receipt("both")}).json()
    assert again == {"granted": False, "credits": 500, "transaction_id": "1000000011"}
    assert len(flash.grants(alice.flash_user_id)) == 2
