import base64

import pytest
from django.test import Client

from payments.models import CreditGrant, GrantState
from standins.storekit import AppleChain

from .conftest import committed

URL = "/api/v1/billing/verify-receipt"


@pytest.fixture
def chain(apple) -> AppleChain:
    """The Apple stand-in's signing chain, whose root the gateway trusts (its
    APPLE_ROOT_CERTIFICATES, APPLE_ENVIRONMENT=Sandbox)."""
    return apple.chain


def _post(client: Client, body: dict):
    with committed():
        return client.post(URL, body, content_type="application/json")


def test_it_grants_a_transaction_the_apple_stand_in_signs_over_http(as_alice, alice, apple):
    import requests

    signed = requests.post(apple.url + "/__standin__/storekit/sign", timeout=5,
                           json={"transaction_id": "2000000007", "product_id": "com.timepointai.credits.100"})
    response = _post(as_alice, {"signed_transaction": signed.json()["signed_transaction"]})
    assert response.status_code == 200, response.content
    assert response.json() == {"granted": True, "credits": 100, "transaction_id": "2000000007"}


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


def test_it_grants_a_production_transaction_with_the_default_app_store_id(as_alice, alice, chain, settings):
    # APPLE_APP_APPLE_ID defaults to none (CONTRACT.md §1): a signed transaction names
    # no App Store id, so verifying one in Production needs none.
    settings.APPLE_ENVIRONMENT, settings.APPLE_APP_APPLE_ID = "Production", None
    response = _post(as_alice, {"signed_transaction": chain.sign(transaction_id="2000000099",
                                                                  environment="Production")})
    assert response.status_code == 200, response.content
    assert response.json() == {"granted": True, "credits": 100, "transaction_id": "2000000099"}


@pytest.mark.parametrize("transaction_id", ["9" * 300, "2000\x00001", "2000\ud800001"])
def test_it_refuses_a_transaction_id_no_grant_can_be_kept_under(as_alice, chain, transaction_id):
    response = _post(as_alice, {"signed_transaction": chain.sign(transaction_id=transaction_id)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not CreditGrant.objects.exists()


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


# --- malformed, unverifiable and unconfigured StoreKit 2 transactions (issue 17.4) -----


# Not a JWS at all; three segments of nonsense; an ES256 header without the App Store's
# certificate chain; empty segments.
NOT_A_JWS = ["not-a-jws", "not.a.jws", "eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln", ".."]


def test_it_answers_400_to_a_signed_transaction_that_is_not_a_jws_even_unconfigured(as_alice, settings):
    # Retrying cannot make garbage valid: 400, never 503 ("try again") however the
    # verifier is configured.
    for roots in ([], settings.APPLE_ROOT_CERTIFICATES):
        settings.APPLE_ROOT_CERTIFICATES = roots
        for garbage in NOT_A_JWS:
            response = _post(as_alice, {"signed_transaction": garbage})
            assert response.status_code == 400, (roots, garbage, response.content)
            assert response.json()["error"]["code"] == "invalid_request"
    assert not CreditGrant.objects.exists()


def test_it_answers_400_to_a_jws_not_signed_by_the_app_store(as_alice, settings):
    import jwt

    settings.APPLE_ROOT_CERTIFICATES = []
    for token in (jwt.encode({"transactionId": "1", "productId": "com.timepointai.credits.100"}, "secret-0123456789"
                             "abcdef0123456789abcdef", algorithm="HS256"),
                  jwt.encode({"transactionId": "1"}, None, algorithm="none")):
        response = _post(as_alice, {"signed_transaction": token})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_it_answers_503_to_a_genuine_looking_transaction_while_verification_is_impossible(as_alice, chain, settings):
    settings.APPLE_ROOT_CERTIFICATES = []
    response = _post(as_alice, {"signed_transaction": chain.sign()})
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"
    assert not CreditGrant.objects.exists()


# --- quantity (issue 17.5) ------------------------------------------------------------


def test_it_grants_credits_times_quantity_for_storekit2_once(as_alice, alice, flash, chain):
    jws = chain.sign(transaction_id="2000000077", product_id="com.timepointai.credits.100", quantity=3)
    response = _post(as_alice, {"signed_transaction": jws})
    assert response.status_code == 200, response.content
    assert response.json() == {"granted": True, "credits": 300, "transaction_id": "2000000077"}
    assert _post(as_alice, {"signed_transaction": jws}).json()["granted"] is False
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [300]
    assert CreditGrant.objects.get().amount == 300


def test_it_grants_credits_times_quantity_for_every_legacy_purchase_once(as_alice, alice, flash, apple):
    apple.add_receipt(_receipt("qty"), [
        {"product_id": "com.timepointai.credits.100", "transaction_id": "1000000020", "quantity": "3",
         "purchase_date_ms": "1700000000000"},
        {"product_id": "com.timepointai.credits.500", "transaction_id": "1000000021", "quantity": "2",
         "purchase_date_ms": "1700000600000"},
        {"product_id": "com.timepointai.credits.100", "transaction_id": "1000000022",
         "purchase_date_ms": "1700000300000"},  # no quantity: one
    ])
    answer = _post(as_alice, {"receipt_data": _receipt("qty")}).json()
    assert answer == {"granted": True, "credits": 300 + 1000 + 100, "transaction_id": "1000000021"}
    assert sorted(g["amount"] for g in flash.grants(alice.flash_user_id)) == [100, 300, 1000]
    assert _post(as_alice, {"receipt_data": _receipt("qty")}).json()["granted"] is False
    assert len(flash.grants(alice.flash_user_id)) == 3


def test_it_refuses_a_nonsensical_quantity(as_alice, chain, apple):
    for quantity in (0, -2):
        jws = chain.sign(transaction_id=f"20000009{-quantity}", quantity=quantity)
        assert _post(as_alice, {"signed_transaction": jws}).status_code == 400
    apple.add_receipt(_receipt("bad-qty"), [{"product_id": "com.timepointai.credits.100",
                                             "transaction_id": "1000000030", "quantity": "lots"}])
    assert _post(as_alice, {"receipt_data": _receipt("bad-qty")}).status_code == 400
    assert not CreditGrant.objects.exists()


# --- answers of an unexpected shape from Apple ----------------------------------------

CREDITS_100 = {"product_id": "com.timepointai.credits.100", "transaction_id": "1000000040",
               "purchase_date_ms": "1700000000000"}
MISSHAPEN_ANSWERS = {
    "not an object": [1],
    "no status": {"weird": True},
    "status a string": {"status": "0"},
    "receipt a string": {"status": 0, "receipt": "x"},
    "in_app an object": {"status": 0, "receipt": {"in_app": {"0": CREDITS_100}}},
    "in_app entry a string": {"status": 0, "receipt": {"in_app": ["purchase"]}},
    "product_id a list": {"status": 0, "receipt": {"in_app": [{**CREDITS_100, "product_id": ["x"]}]}},
    "transaction_id missing": {"status": 0, "receipt": {"in_app": [
        {k: v for k, v in CREDITS_100.items() if k != "transaction_id"}]}},
    "transaction_id an object": {"status": 0, "receipt": {"in_app": [{**CREDITS_100, "transaction_id": {}}]}},
    "quantity a list": {"status": 0, "receipt": {"in_app": [{**CREDITS_100, "quantity": ["2"]}]}},
    "purchase date not a number": {"status": 0, "receipt": {"in_app": [{**CREDITS_100, "purchase_date_ms": "x"}]}},
    "bundle_id a list": {"status": 0, "receipt": {"bundle_id": ["com.timepointai.app"], "in_app": [CREDITS_100]}},
    "latest_receipt_info a string": {"status": 0, "receipt": {"in_app": [CREDITS_100]}, "latest_receipt_info": "x"},
}


@pytest.mark.parametrize("answer", MISSHAPEN_ANSWERS.values(), ids=MISSHAPEN_ANSWERS.keys())
def test_it_answers_503_when_apple_answers_an_unexpected_shape(as_alice, apple, answer):
    apple.fail(200, body=answer, path=r"verifyReceipt")
    response = _post(as_alice, {"receipt_data": _receipt("r1")})
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert not CreditGrant.objects.exists()
